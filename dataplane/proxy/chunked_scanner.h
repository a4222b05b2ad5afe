// Checks HTTP/1.1 chunked framing (RFC 9112 §7.1) as the bytes stream past, without decoding it.
// The proxy relays an upstream's chunked body to the client byte for byte; all it needs is the
// payload (to see SSE events), where the message ends, and whether the framing is sound. Beast's
// parser decoded every chunk into a buffer that the proxy then framed again: about 540
// instructions and a copy per SSE event, which this scanner replaces with a memchr per chunk.
//
// One scanner per response, used by one IO thread. It keeps no bytes: an unfinished size or
// trailer line is left unconsumed, and the caller presents it again with what follows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fwd::dataplane::proxy {

class ChunkedScanner {
 public:
  /// Longest chunk-size line (with extensions) and largest trailer section accepted.
  static constexpr size_t kMaxLineBytes = 4096;
  static constexpr size_t kMaxTrailerBytes = 8192;

  struct Result {
    /// Leading bytes of the input that were scanned. The rest (an unfinished size or trailer
    /// line) must be presented again, with more bytes after it.
    size_t consumed = 0;
    /// Leading bytes to relay as they are: the framing up to, not including, the last chunk.
    /// The caller ends the message with its own "0\r\n\r\n", so trailers are not passed on.
    size_t forward = 0;
    /// The message ended within `consumed` (the last chunk and the trailer section were read).
    bool done = false;
    /// Set when the framing is malformed; nothing after `forward` may be relayed.
    const char* error = nullptr;
  };

  /// Scans `in`, calling `on_data(std::string_view)` with each piece of chunk payload.
  template <typename OnData>
  Result scan(std::string_view in, OnData&& on_data);

  /// True between chunks: relaying stopped here leaves the client at a chunk boundary, where
  /// the proxy may still add a chunk of its own (an SSE error event).
  bool atChunkBoundary() const { return state_ == State::kSize; }
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kData, kDataCr, kDataLf, kTrailer, kDone };

  // A size line of at most 8 hex digits and CRLF, whole at in[pos]: takes it (entering kData,
  // or kTrailer for the last chunk) and returns where it ends; 0 for anything else (the
  // general path then reads it, or reports what is wrong with it).
  size_t sizeLineFastPath(std::string_view in, size_t pos);
  // Parses one size line (without its LF); returns an error or nullptr.
  const char* parseSizeLine(std::string_view line);
  // Finds the LF ending the line that starts at `from`; npos if not within `in`.
  static size_t findLf(std::string_view in, size_t from);

  State state_ = State::kSize;
  std::uint64_t remaining_ = 0;  // payload bytes left in the current chunk
  size_t trailer_bytes_ = 0;
};

template <typename OnData>
ChunkedScanner::Result ChunkedScanner::scan(std::string_view in, OnData&& on_data) {
  Result r;
  size_t pos = 0;
  size_t forward = 0;  // relayable prefix; stops growing at the last chunk
  while (pos < in.size() && r.error == nullptr) {
    switch (state_) {
      case State::kSize: {
        // What upstreams send: a few hex digits and CRLF, read here without a search.
        if (size_t after = sizeLineFastPath(in, pos); after != 0) {
          forward = state_ == State::kTrailer ? pos : after;
          pos = after;
          break;
        }
        size_t lf = findLf(in, pos);
        if (lf == std::string_view::npos) {
          if (in.size() - pos > kMaxLineBytes) {
            r.error = "chunk-size line too long";
          }
          r.consumed = pos;
          r.forward = forward;
          return r;
        }
        if (lf - pos > kMaxLineBytes) {
          r.error = "chunk-size line too long";
          break;
        }
        if (const char* e = parseSizeLine(in.substr(pos, lf - pos)); e != nullptr) {
          r.error = e;
          break;
        }
        if (state_ == State::kTrailer) {
          forward = pos;  // the last chunk: the caller writes its own
        } else {
          forward = lf + 1;
        }
        pos = lf + 1;
        break;
      }
      case State::kData: {
        size_t n = in.size() - pos;
        if (remaining_ < n) {
          n = static_cast<size_t>(remaining_);
        }
        on_data(in.substr(pos, n));
        remaining_ -= n;
        pos += n;
        forward = pos;
        if (remaining_ == 0) {
          state_ = State::kDataCr;
          if (in.size() - pos >= 2 && in[pos] == '\r' && in[pos + 1] == '\n') {
            pos += 2;  // the CRLF after the payload, when it is here already
            forward = pos;
            state_ = State::kSize;
          }
        }
        break;
      }
      case State::kDataCr:
      case State::kDataLf: {
        char want = state_ == State::kDataCr ? '\r' : '\n';
        if (in[pos] != want) {
          r.error = "chunk data not followed by CRLF";
          break;
        }
        ++pos;
        forward = pos;
        state_ = state_ == State::kDataCr ? State::kDataLf : State::kSize;
        break;
      }
      case State::kTrailer: {
        size_t lf = findLf(in, pos);
        size_t line_end = lf == std::string_view::npos ? in.size() : lf + 1;
        if (trailer_bytes_ + (line_end - pos) > kMaxTrailerBytes) {
          r.error = "trailer section too large";
          break;
        }
        if (lf == std::string_view::npos) {
          r.consumed = pos;
          r.forward = forward;
          return r;
        }
        if (lf == pos || in[lf - 1] != '\r') {
          r.error = "trailer line not ended by CRLF";
          break;
        }
        trailer_bytes_ += line_end - pos;
        if (lf - pos == 1) {
          state_ = State::kDone;  // the empty line ending the message
        }
        pos = line_end;
        break;
      }
      case State::kDone:
        r.consumed = pos;
        r.forward = forward;
        r.done = true;
        return r;
    }
  }
  r.consumed = pos;
  r.forward = forward;
  r.done = state_ == State::kDone && r.error == nullptr;
  return r;
}

}  // namespace fwd::dataplane::proxy
