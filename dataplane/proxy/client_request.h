// Parses a client's request into a flat form the proxy reads once: method, target, the header
// fields in arrival order (names and values copied into one buffer, no tree), and the body.
// Beast's request_parser kept the fields in a case-insensitive tree; fwd only looks up three of
// them and copies the rest upstream in order, so the tree's inserts and compares (about 2,000
// instructions per request in callgrind) bought nothing.
//
// One per request, on the connection's IO thread.
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

  /// `body_padding` extra bytes are reserved after a declared Content-Length, so a JSON parser
  /// that needs padding (simdjson) never reallocates the body.
  explicit ClientRequestParser(size_t body_padding = 0) : body_padding_(body_padding) {}

  boost::beast::http::verb method() const { return method_; }
  std::string_view methodString() const { return method_string_; }
  std::string_view target() const { return target_; }
  /// The first value of `name`, or "" when absent.
  std::string_view field(boost::beast::http::field name) const;
  /// The same by name, for fields Beast has no code for ("api-key"); any case.
  std::string_view field(std::string_view name) const;
  const std::vector<Field>& fields() const { return fields_; }
  std::string_view nameOf(const Field& f) const { return {text_.data() + f.name_at, f.name_size}; }
  std::string_view valueOf(const Field& f) const {
    return {text_.data() + f.value_at, f.value_size};
  }
  std::string& body() { return body_; }
  const std::string& body() const { return body_; }

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

  size_t body_padding_;
  boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
  std::string method_string_;
  std::string target_;
  std::string text_;  // field names and values, back to back
  std::vector<Field> fields_;
  std::string body_;
};

}  // namespace fwd::dataplane::proxy
