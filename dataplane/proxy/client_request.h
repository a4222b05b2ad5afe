// Parses a client's request into a flat form the proxy reads once: method, target, the header
// fields in arrival order (names and values copied into one buffer, no tree), and the body.
// Beast's request_parser kept the fields in a case-insensitive tree; fwd only looks up three of
// them and copies the rest upstream in order, so the tree's inserts and compares (about 2,000
// instructions per request in callgrind) bought nothing.
//
// One per request (a Beast parser cannot be reset), on the connection's IO thread; its strings
// and field list can live in the connection's Storage, so that a keep-alive connection's
// requests reuse what the first ones allocated.
//
// Framing is stricter than Beast's, because a request fwd reads differently from the proxy in
// front of it is a smuggled request (RFC 9112 §6.1, §6.3, §11.2): Transfer-Encoding must be
// exactly "chunked" (Beast takes "chunkedx" or "chunked, gzip" as "no body" and would read the
// body as the next request), never in HTTP/1.0, and Content-Length must be one plain number (Beast
// accepts "5, 5" and repeated equal fields). Such a request, a request line over its limit and
// too many fields are refused with a status and a reason (refusal()), and the connection closes.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fwd::dataplane::proxy {

class ClientRequestParser : public boost::beast::http::basic_parser<true> {
 public:
  struct Field {
    boost::beast::http::field name;  // field::unknown for names Beast does not know
    std::uint32_t name_at, name_size, value_at, value_size;  // into the field buffer
  };

  /// What a request is parsed into. Kept by the connection across requests; a body capacity
  /// over kKeptBodyCapacity is given back rather than held by an idle connection.
  struct Storage {
    std::string method_string;
    std::string target;
    std::string text;  // field names and values, back to back
    std::vector<Field> fields;
    std::string body;
  };
  static constexpr size_t kKeptBodyCapacity = 64 * 1024;

  /// Limits on the request head beyond Beast's header_limit (which bounds its total bytes).
  struct HeadLimits {
    size_t max_request_line = 8 * 1024;  // method, target and version: 414 above
    size_t max_fields = 100;             // header fields: 431 above
  };

  /// Why the head was refused: the parser stopped with an error, and this is the answer.
  struct Refusal {
    int status = 400;
    std::string_view code;
    std::string message;
  };

  /// `body_padding` extra bytes are reserved after a declared Content-Length, so a JSON parser
  /// that needs padding (simdjson) never reallocates the body.
  explicit ClientRequestParser(size_t body_padding = 0) : s_(own_), body_padding_(body_padding) {}
  /// Parses into `reuse`, emptied first (its capacity is kept).
  ClientRequestParser(Storage& reuse, size_t body_padding);

  void headLimits(const HeadLimits& limits) { limits_ = limits; }
  /// Set when a framing rule or a head limit stopped the parser; the error Beast reports then
  /// says little, this says what to answer.
  const std::optional<Refusal>& refusal() const { return refusal_; }
  /// The request line was parsed (a header_limit error before it means the line was too long).
  bool gotRequestLine() const { return version_ != 0; }

  boost::beast::http::verb method() const { return method_; }
  std::string_view methodString() const { return s_.method_string; }
  std::string_view target() const { return s_.target; }
  /// The first value of `name`, or "" when absent.
  std::string_view field(boost::beast::http::field name) const;
  /// The same by name, for fields Beast has no code for ("api-key"); any case.
  std::string_view field(std::string_view name) const;
  const std::vector<Field>& fields() const { return s_.fields; }
  std::string_view nameOf(const Field& f) const {
    return {s_.text.data() + f.name_at, f.name_size};
  }
  std::string_view valueOf(const Field& f) const {
    return {s_.text.data() + f.value_at, f.value_size};
  }
  /// A Connection field lists options besides "close" and "keep-alive": the names of fields
  /// meant for this hop only (RFC 9110 §7.6.1), which must not be forwarded.
  bool connectionNamesFields() const { return connection_names_fields_; }
  /// `name` is one of the options of the request's Connection fields. Any case.
  bool namedInConnection(std::string_view name) const;
  std::string& body() { return s_.body; }
  const std::string& body() const { return s_.body; }

 private:
  void on_request_impl(boost::beast::http::verb method, boost::beast::string_view method_string,
                       boost::beast::string_view target, int version,
                       boost::beast::error_code& ec) override;
  void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         boost::beast::error_code& ec) override;
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                 boost::beast::error_code& ec) override;
  void on_finish_impl(boost::beast::error_code&) override {}

  void refuse(int status, std::string_view code, std::string message, boost::beast::error_code& ec);

  Storage own_;  // used when the caller keeps none
  Storage& s_;
  size_t body_padding_;
  HeadLimits limits_;
  std::optional<Refusal> refusal_;
  boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
  int version_ = 0;  // 10 or 11 once the request line is parsed
  bool seen_content_length_ = false;
  bool connection_names_fields_ = false;
};

}  // namespace fwd::dataplane::proxy
