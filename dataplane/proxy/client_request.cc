#include "dataplane/proxy/client_request.h"

#include <algorithm>
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

namespace {

// Calls `each` with every element of a comma-separated list, without surrounding blanks.
template <typename Each>
void forEachListElement(std::string_view list, Each&& each) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view element = list.substr(0, comma);
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    while (!element.empty() && (element.front() == ' ' || element.front() == '\t')) {
      element.remove_prefix(1);
    }
    while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) {
      element.remove_suffix(1);
    }
    if (!element.empty()) {
      each(element);
    }
  }
}

}  // namespace

bool ClientRequestParser::namedInConnection(std::string_view name) const {
  bool named = false;
  for (const Field& f : s_.fields) {
    if (f.name == http::field::connection) {
      forEachListElement(valueOf(f), [&](std::string_view option) {
        named = named || boost::beast::iequals(option, name);
      });
    }
  }
  return named;
}

void ClientRequestParser::refuse(int status, std::string_view code, std::string message,
                                 boost::beast::error_code& ec) {
  refusal_ = Refusal{status, code, std::move(message)};
  ec = http::error::bad_value;
}

void ClientRequestParser::on_request_impl(http::verb method,
                                          boost::beast::string_view method_string,
                                          boost::beast::string_view target, int version,
                                          boost::beast::error_code& ec) {
  version_ = version;
  // "METHOD SP target SP HTTP/1.1": the two spaces and the 8-byte version.
  if (method_string.size() + target.size() + 10 > limits_.max_request_line) {
    return refuse(414, "uri_too_long",
                  "Request line too long: the limit is " +
                      std::to_string(limits_.max_request_line) + " bytes.",
                  ec);
  }
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
                                        boost::beast::error_code& ec) {
  if (s_.fields.size() == limits_.max_fields) {
    return refuse(431, "request_header_too_large",
                  "Request has too many header fields: the limit is " +
                      std::to_string(limits_.max_fields) + ".",
                  ec);
  }
  if (name == http::field::transfer_encoding) {
    // Beast has already refused a second Transfer-Encoding after "chunked" and one next to a
    // Content-Length; what is left to refuse is any coding but a lone "chunked".
    if (version_ < 11) {
      return refuse(400, "bad_request", "Transfer-Encoding is not allowed in an HTTP/1.0 request.",
                    ec);
    }
    if (!boost::beast::iequals(value, "chunked")) {
      return refuse(400, "bad_request",
                    "Unsupported Transfer-Encoding: fwd accepts request bodies sent as they are "
                    "(Content-Length) or as \"Transfer-Encoding: chunked\" alone.",
                    ec);
    }
  } else if (name == http::field::connection) {
    forEachListElement(value, [&](std::string_view option) {
      if (!boost::beast::iequals(option, "close") && !boost::beast::iequals(option, "keep-alive")) {
        connection_names_fields_ = true;
      }
    });
  } else if (name == http::field::content_length) {
    bool digits = !value.empty() && std::all_of(value.begin(), value.end(),
                                                [](char c) { return c >= '0' && c <= '9'; });
    if (seen_content_length_ || !digits) {
      return refuse(400, "bad_request",
                    "Invalid Content-Length: send one Content-Length field holding one number.",
                    ec);
    }
    seen_content_length_ = true;
  }
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
