"""A local OpenAI-compatible HTTP server over the loaded model (issue 10), Qt-free so the window
and `glassbox serve` share it: `schemas` (request/response shapes), `model_thread` (one thread that
runs requests one at a time on the one session), `translate` (OpenAI request -> GenerateRequest,
TokenEvents -> OpenAI shapes), `routes` (the FastAPI app), `serve` (the headless entry point)."""
