// Byte-level BPE: a vocabulary and its merge rules, built without Python, applied to the pieces a
// pre-tokenizer made. The rules are those of Hugging Face `tokenizers`' BPE model (Sennrich et al.
// 2016, "Neural Machine Translation of Rare Words with Subword Units"), which Glassbox used before:
//
//   - a piece is split into its characters, each looked up in the vocabulary (a byte-level
//     pre-tokenizer has already mapped every byte to a character the vocabulary holds; a character
//     that is not there is dropped, as the library does without an unknown token);
//   - then, repeatedly, the adjacent pair with the lowest merge rank is joined, the leftmost of
//     equal ranks first, until no adjacent pair has a rule.
//
// Construction is plain C++ (no Python objects), so the caller can release the GIL while it runs:
// a 49k-token vocabulary with 49k merges took `tokenizers` ~75-90 ms holding the GIL, which
// stalled the window and serialised the rest of a model load behind it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace glassbox {

class BytePairModel {
 public:
  // tokens: the vocabulary (id = index), concatenated in `token_text` with token i spanning
  // [token_ends[i-1], token_ends[i]); merges likewise ("left right", split at the first space),
  // rank = index. A later duplicate of a token string or of a merge pair wins, as in a dict built
  // in order. Throws std::invalid_argument naming the problem when a merge has no space or names
  // a token (left, right or their join) that is not in the vocabulary. ignore_merges: a piece that
  // is itself a token is that token, whatever the merges make of it (Hugging Face's `ignore_merges`,
  // which llama.cpp sets for the Llama 3 pre-tokenizers: there " Việt" is one token, where the
  // merges alone stop at three).
  BytePairModel(std::string token_text, const std::vector<size_t>& token_ends, std::string merge_text,
                const std::vector<size_t>& merge_ends, bool ignore_merges = false);

  // Appends the ids of one pre-tokenized piece (UTF-8) to `out`.
  void encode(std::string_view piece, std::vector<uint32_t>& out) const;

  // The rank of the merge rule joining the tokens spelled `left` and `right`, or -1 when there is none.
  int64_t rank(std::string_view left, std::string_view right) const;

  size_t vocab_size() const { return n_tokens_; }
  size_t merge_count() const { return n_rules_; }

 private:
  // Open-addressed tables (linear probing, power-of-two sizes, at most 2/3 full): building them
  // is most of the construction: with std::unordered_map (a node per entry) it took ~2x as long.
  struct Rule {
    uint64_t pair = kEmpty;  // (left id << 32) | right id
    uint32_t rank = 0;
    uint32_t joined = 0;
  };
  static constexpr uint64_t kEmpty = ~uint64_t(0);

  std::string_view token(uint32_t id) const {
    return std::string_view(token_text_).substr(token_starts_[id], token_starts_[id + 1] - token_starts_[id]);
  }
  // The id of the token spelled `text`, or -1.
  int64_t find_token(std::string_view text) const;
  const Rule* find_rule(uint32_t left, uint32_t right) const;

  std::string token_text_;
  std::vector<size_t> token_starts_;  // n_tokens_ + 1 offsets into token_text_
  size_t n_tokens_;
  std::vector<uint32_t> token_slots_;  // id + 1, 0 = empty
  std::vector<Rule> rules_;
  size_t n_rules_ = 0;
  bool ignore_merges_ = false;
};

}  // namespace glassbox
