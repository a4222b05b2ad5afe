// The bodies of one request, kept for its record (a route or key with log_bodies) and for the
// data plane's JSONL files (--jsonl-dir): what the upstream was sent and answered, and what the
// client got when that was not the upstream's answer byte for byte (fwd's own error, an edited
// answer, a stream cut with fwd's error event). Each is cut to the data plane's
// --log-body-max-bytes; no header is ever kept. Made on the worker when the request's body has
// been read, filled as the answer passes, handed to the recorder's thread with the record entry
// (which frees it). Only for requests that ask: the others never allocate one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fwd::dataplane::records {

/// Up to a cap of bytes, and how many came in all.
struct CappedBytes {
  std::string bytes;
  std::uint64_t total = 0;

  void append(std::string_view more, size_t cap) {
    total += more.size();
    if (bytes.size() < cap) {
      bytes.append(more.substr(0, cap - bytes.size()));
    }
  }
  void assign(std::string_view all, size_t cap) {
    bytes.clear();
    total = 0;
    append(all, cap);
  }
  bool cut() const { return total > bytes.size(); }
};

struct Bodies {
  explicit Bodies(size_t cap) : max_bytes(cap) {}

  size_t max_bytes;
  CappedBytes request;           // as the client sent it (set at the end)
  CappedBytes upstream_request;  // as the last attempt sent it, when edits changed it
  bool request_edited = false;
  int upstream_status = 0;    // of the answer relayed; 0: no upstream answered
  CappedBytes answer;         // the upstream's answer (the payload, without chunk framing)
  CappedBytes client_answer;  // what the client got, when client_differs
  bool client_differs = false;

  /// An upstream's answer starts being relayed (a retried attempt's does not reach here).
  void startAnswer(int status) {
    upstream_status = status;
    answer.assign({}, max_bytes);
  }
  void feedAnswer(std::string_view payload) { answer.append(payload, max_bytes); }
  /// An upstream answered with an error that fwd does not relay (a 5xx, or a 429 it retries):
  /// the part of its body fwd read.
  void failedAnswer(int status, std::string_view body) {
    upstream_status = status;
    answer.assign(body, max_bytes);
  }
  /// The client gets an answer of fwd's own (an error, GET /v1/models).
  void ownAnswer(std::string_view body) {
    client_differs = true;
    client_answer.assign(body, max_bytes);
  }
  /// The client gets `bytes` of fwd's making after what it got so far (the upstream's answer
  /// unless an editor changed it).
  void appendForClient(std::string_view bytes) {
    if (!client_differs) {
      client_answer = answer;
      client_differs = true;
    }
    client_answer.append(bytes, max_bytes);
  }
  /// What the client got.
  const CappedBytes& clientAnswer() const { return client_differs ? client_answer : answer; }
};

}  // namespace fwd::dataplane::records
