#include "dataplane/proxy/client_request.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

namespace fwd::dataplane::proxy {

namespace http = boost::beast::http;

ClientRequestParser::ClientRequestParser(Storage& reuse, size_t body_padding)
    : s_(reuse), body_padding_(body_padding) {
  s_.method_string.clear();
  s_.target.clear();
  s_.text.clear();
  s_.fields.clear();
  if (s_.body.capacity() > kKeptBodyCapacity) {
    std::string().swap(s_.body);
  } else {
    s_.body.clear();
  }
}

std::string_view ClientRequestParser::field(http::field name) const {
  for (const Field& f : s_.fields) {
    if (f.name == name) {
      return valueOf(f);
    }
  }
  return {};
}

std::string_view ClientRequestParser::field(std::string_view name) const {
  for (const Field& f : s_.fields) {
    if (boost::beast::iequals(nameOf(f), name)) {
      return valueOf(f);
    }
  }
  return {};
}

void ClientRequestParser::on_request_impl(http::verb method,
                                          boost::beast::string_view method_string,
                                          boost::beast::string_view target, int,
                                          boost::beast::error_code&) {
  method_ = method;
  s_.method_string.assign(method_string.data(), method_string.size());
  s_.target.assign(target.data(), target.size());
}

void ClientRequestParser::on_response_impl(int, boost::beast::string_view, int,
                                           boost::beast::error_code& ec) {
  ec = http::error::bad_method;  // a request parser: basic_parser<true> never calls this
}

void ClientRequestParser::on_field_impl(http::field name, boost::beast::string_view name_string,
                                        boost::beast::string_view value,
                                        boost::beast::error_code&) {
  // The header limit (header_limit) bounds s_.text; offsets fit in 32 bits.
  Field f{name, static_cast<std::uint32_t>(s_.text.size()),
          static_cast<std::uint32_t>(name_string.size()), 0,
          static_cast<std::uint32_t>(value.size())};
  s_.text.append(name_string.data(), name_string.size());
  f.value_at = static_cast<std::uint32_t>(s_.text.size());
  s_.text.append(value.data(), value.size());
  s_.fields.push_back(f);
}

void ClientRequestParser::on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                                            boost::beast::error_code&) {
  if (content_length) {
    // body_limit() already refused a length over the limit.
    s_.body.reserve(static_cast<size_t>(*content_length) + body_padding_);
  }
}

std::size_t ClientRequestParser::on_body_impl(boost::beast::string_view body,
                                              boost::beast::error_code&) {
  s_.body.append(body.data(), body.size());
  return body.size();
}

std::size_t ClientRequestParser::on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                                    boost::beast::error_code&) {
  s_.body.append(body.data(), body.size());
  return body.size();
}

}  // namespace fwd::dataplane::proxy
