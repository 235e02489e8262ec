#include "bpe.h"

#include <queue>
#include <stdexcept>

namespace glassbox {

namespace {

// Bytes in the UTF-8 character starting with `lead` (1 for a stray continuation byte, so a
// malformed string still advances).
size_t char_length(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

std::string shown(std::string_view s) { return "\"" + std::string(s.substr(0, 80)) + "\""; }

uint64_t hash_text(std::string_view s) {  // FNV-1a, then a final mix for the low bits
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h ^ (h >> 29);
}

uint64_t hash_pair(uint64_t pair) { return (pair * 0x9E3779B97F4A7C15ull) >> 17; }

size_t table_size(size_t entries) {  // a power of two at least 1.5x `entries` (at most 2/3 full)
  size_t n = 16;
  while (n < entries + entries / 2) n *= 2;
  return n;
}

}  // namespace

int64_t BytePairModel::find_token(std::string_view text) const {
  const size_t mask = token_slots_.size() - 1;
  for (size_t slot = hash_text(text) & mask;; slot = (slot + 1) & mask) {
    const uint32_t entry = token_slots_[slot];
    if (entry == 0) return -1;
    if (token(entry - 1) == text) return entry - 1;
  }
}

const BytePairModel::Rule* BytePairModel::find_rule(uint32_t left, uint32_t right) const {
  const uint64_t pair = (uint64_t(left) << 32) | right;
  const size_t mask = rules_.size() - 1;
  for (size_t slot = hash_pair(pair) & mask;; slot = (slot + 1) & mask) {
    const Rule& rule = rules_[slot];
    if (rule.pair == pair) return &rule;
    if (rule.pair == kEmpty) return nullptr;
  }
}

int64_t BytePairModel::rank(std::string_view left, std::string_view right) const {
  const int64_t a = find_token(left), b = find_token(right);
  if (a < 0 || b < 0) return -1;
  const Rule* rule = find_rule(static_cast<uint32_t>(a), static_cast<uint32_t>(b));
  // int64_t on both sides: `cond ? -1 : uint32_t` is unsigned, and a pair of tokens without a rule
  // came back as rank 4294967295 (a merge the Inspector's replay then made) instead of none
  return rule == nullptr ? int64_t{-1} : int64_t{rule->rank};
}

BytePairModel::BytePairModel(std::string token_text, const std::vector<size_t>& token_ends, std::string merge_text,
                             const std::vector<size_t>& merge_ends, bool ignore_merges)
    : token_text_(std::move(token_text)), n_tokens_(token_ends.size()), ignore_merges_(ignore_merges) {
  if (n_tokens_ >= 0xFFFFFFFFu) throw std::invalid_argument("more tokens than 32-bit ids can number");
  token_starts_.reserve(n_tokens_ + 1);
  token_starts_.push_back(0);
  for (size_t end : token_ends) {
    if (end < token_starts_.back() || end > token_text_.size()) throw std::invalid_argument("token offsets out of order");
    token_starts_.push_back(end);
  }
  token_slots_.assign(table_size(n_tokens_), 0);
  const size_t token_mask = token_slots_.size() - 1;
  for (uint32_t id = 0; id < n_tokens_; ++id) {
    const std::string_view text = token(id);
    for (size_t slot = hash_text(text) & token_mask;; slot = (slot + 1) & token_mask) {
      uint32_t& entry = token_slots_[slot];
      if (entry == 0 || token(entry - 1) == text) {  // a later duplicate wins, as in a dict
        entry = id + 1;
        break;
      }
    }
  }

  rules_.assign(table_size(merge_ends.size()), Rule{});
  const size_t rule_mask = rules_.size() - 1;
  std::string joined;
  size_t start = 0;
  for (size_t rank = 0; rank < merge_ends.size(); ++rank) {
    const size_t end = merge_ends[rank];
    if (end < start || end > merge_text.size()) throw std::invalid_argument("merge offsets out of order");
    const std::string_view rule = std::string_view(merge_text).substr(start, end - start);
    start = end;
    const size_t space = rule.find(' ');
    if (space == std::string_view::npos)
      throw std::invalid_argument("merge " + std::to_string(rank) + " (" + shown(rule) + ") has no space between its two tokens");
    const std::string_view left = rule.substr(0, space), right = rule.substr(space + 1);
    joined.assign(left);
    joined.append(right);
    int64_t ids[3];
    const std::string_view parts[3] = {left, right, joined};
    for (int i = 0; i < 3; ++i) {
      ids[i] = find_token(parts[i]);
      if (ids[i] < 0)
        throw std::invalid_argument("merge " + std::to_string(rank) + " (" + shown(rule) + ") names " + shown(parts[i]) +
                                    ", which is not in the vocabulary");
    }
    const uint64_t pair = (uint64_t(ids[0]) << 32) | uint64_t(ids[1]);
    for (size_t slot = hash_pair(pair) & rule_mask;; slot = (slot + 1) & rule_mask) {
      Rule& entry = rules_[slot];
      if (entry.pair == kEmpty) ++n_rules_;
      if (entry.pair == kEmpty || entry.pair == pair) {  // a later duplicate wins, as in a dict
        entry = {pair, static_cast<uint32_t>(rank), static_cast<uint32_t>(ids[2])};
        break;
      }
    }
  }
}

void BytePairModel::encode(std::string_view piece, std::vector<uint32_t>& out) const {
  if (ignore_merges_ && !piece.empty()) {  // a piece that is a token is taken whole
    const int64_t whole = find_token(piece);
    if (whole >= 0) {
      out.push_back(static_cast<uint32_t>(whole));
      return;
    }
  }
  // The piece's characters as a linked list of symbols; a merged-away symbol gets gone = true.
  struct Symbol {
    uint32_t id;
    int prev, next;
    bool gone;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  for (size_t at = 0; at < piece.size();) {
    const size_t n = std::min(char_length(static_cast<unsigned char>(piece[at])), piece.size() - at);
    const int64_t id = find_token(piece.substr(at, n));
    at += n;
    if (id < 0) continue;  // no unknown token: the character is dropped
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(id), index - 1, -1, false});
    if (index > 0) symbols[index - 1].next = index;
  }

  struct Candidate {
    uint32_t rank;
    int pos;
    uint32_t joined;
    bool operator<(const Candidate& other) const {  // the queue's top: lowest rank, then leftmost
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate> queue;
  auto offer = [&](int left) {
    const int right = symbols[left].next;
    if (right < 0) return;
    const Rule* rule = find_rule(symbols[left].id, symbols[right].id);
    if (rule != nullptr) queue.push({rule->rank, left, rule->joined});
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) offer(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.gone || left.next < 0) continue;
    const Rule* rule = find_rule(left.id, symbols[left.next].id);
    if (rule == nullptr || rule->joined != top.joined) continue;  // a stale candidate
    Symbol& right = symbols[left.next];
    left.id = top.joined;
    right.gone = true;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) offer(left.prev);
    offer(top.pos);
  }
  for (const Symbol& s : symbols)
    if (!s.gone) out.push_back(s.id);
}

}  // namespace glassbox
