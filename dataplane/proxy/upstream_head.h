// Reads an upstream's response head straight into the head fwd sends its client. Beast's
// response_parser stored every field in a case-insensitive tree that fwd then walked once to copy
// the fields out again (about 4,000 instructions per request in callgrind, most of them tree
// inserts and case-insensitive compares). This parser appends each field the client should see
// as it is parsed and keeps the three facts the proxy acts on: the status, whether the body is
// an event stream, and Retry-After.
//
// One per attempt, on the attempt's IO thread. Only the head is parsed: the proxy relays the
// body itself (see ChunkedScanner), so the body callbacks are never reached.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fwd::dataplane::proxy {

/// Appends "name: value\r\n" to a message head being written by hand.
void appendField(std::string& out, std::string_view name, std::string_view value);

/// True for the hop-by-hop fields (and Content-Length) that fwd never passes to a client: it
/// sets its own framing.
bool isDroppedResponseField(boost::beast::http::field name);
bool isDroppedResponseHeader(std::string_view name);

/// Interim responses (100 Continue, 102 Processing, 103 Early Hints) may precede an upstream's
/// answer. fwd does not relay them: an API client has no use for them, and a client that is
/// handed a 1xx as the answer waits for a final response that would never come. 101 (a protocol
/// switch) is not interim here.
struct InterimHeads {
  size_t bytes = 0;        // leading bytes that are complete interim heads, to drop
  bool need_more = false;  // what follows them may be one more, not yet complete
};
/// Looks at the start of an upstream response; `limit` bounds one interim head (beyond it the
/// bytes go to the parser, which reports the header limit).
InterimHeads interimHeads(std::string_view bytes, size_t limit);

class UpstreamHeadParser : public boost::beast::http::basic_parser<false> {
 public:
  /// Fields go to `out`, which is cleared when the status line arrives.
  explicit UpstreamHeadParser(std::string& out) : out_(out) {}

  unsigned status() const { return status_; }
  /// Content-Type is text/event-stream.
  bool eventStream() const { return event_stream_; }
  /// Retry-After in seconds, when it was a number (an HTTP date is not honoured).
  std::optional<std::uint64_t> retryAfterSeconds() const { return retry_after_; }
  /// The upstream's x-request-id, or empty; valid until the head buffer is reused.
  std::string_view requestId() const {
    return std::string_view(out_).substr(request_id_at_, request_id_size_);
  }

  /// Ends the head in `out`: the upstream's fields are already there; adds x-fwd-upstream, the
  /// framing fwd chose (chunked, or the Content-Length), Connection: close when the client
  /// connection ends with this response, and the blank line.
  void finishHead(std::string_view upstream_name, bool chunked, std::optional<std::uint64_t> length,
                  bool keep_alive) const;
  /// Before finishHead: the client gets `status` instead of the upstream's, which is sent in an
  /// x-fwd-status field.
  void restatus(unsigned status);
  /// Before finishHead: the client gets this Content-Type instead of the upstream's (an answer
  /// fwd converts, stream/convert.h).
  void setContentType(std::string_view value);
  /// Before parsing: leave out the upstream's x-ratelimit-* fields (fwd sends the client's own).
  void dropRateLimitFields() { drop_ratelimit_ = true; }

 private:
  void on_request_impl(boost::beast::http::verb, boost::beast::string_view,
                       boost::beast::string_view, int, boost::beast::error_code& ec) override;
  void on_response_impl(int code, boost::beast::string_view reason, int version,
                        boost::beast::error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&,
                         boost::beast::error_code&) override {}
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code&) override {
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                 boost::beast::error_code&) override {
    return body.size();
  }
  void on_finish_impl(boost::beast::error_code&) override {}

  std::string& out_;
  unsigned status_ = 0;
  bool event_stream_ = false;
  bool drop_ratelimit_ = false;
  std::optional<std::uint64_t> retry_after_;
  size_t request_id_at_ = 0;  // where x-request-id's value is in out_
  size_t request_id_size_ = 0;
  size_t content_type_at_ = 0;  // where the Content-Type field's line is in out_
  size_t content_type_size_ = 0;
};

}  // namespace fwd::dataplane::proxy
