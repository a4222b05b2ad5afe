// Parses a client's request into a flat form the proxy reads once: method, target, the header
// fields in arrival order (names and values copied into one buffer, no tree), and the body.
// Beast's request_parser kept the fields in a case-insensitive tree; fwd only looks up three of
// them and copies the rest upstream in order, so the tree's inserts and compares (about 2,000
// instructions per request in callgrind) bought nothing.
//
// One per request (a Beast parser cannot be reset), on the connection's IO thread; its strings
// and field list can live in the connection's Storage, so that a keep-alive connection's
// requests reuse what the first ones allocated.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstdint>
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

  /// `body_padding` extra bytes are reserved after a declared Content-Length, so a JSON parser
  /// that needs padding (simdjson) never reallocates the body.
  explicit ClientRequestParser(size_t body_padding = 0) : s_(own_), body_padding_(body_padding) {}
  /// Parses into `reuse`, emptied first (its capacity is kept).
  ClientRequestParser(Storage& reuse, size_t body_padding);

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
  std::string& body() { return s_.body; }
  const std::string& body() const { return s_.body; }

 private:
  void on_request_impl(boost::beast::http::verb method, boost::beast::string_view method_string,
                       boost::beast::string_view target, int version,
                       boost::beast::error_code& ec) override;
  void on_response_impl(int, boost::beast::string_view, int,
                        boost::beast::error_code& ec) override;
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

  Storage own_;  // used when the caller keeps none
  Storage& s_;
  size_t body_padding_;
  boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
};

}  // namespace fwd::dataplane::proxy
