#include "dataplane/proxy/request_rules.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <string>

namespace fwd::dataplane::proxy {

namespace http = boost::beast::http;

namespace {

bool iequals(std::string_view a, std::string_view b) { return boost::beast::iequals(a, b); }

}  // namespace

bool isDroppedRequestField(http::field name, std::string_view name_string) {
  switch (name) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::proxy_authorization:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::host:
    case http::field::content_length:
    case http::field::expect:
    case http::field::authorization:
    case http::field::accept_encoding:
    case http::field::forwarded:  // the client's claim of where it is: fwd says so itself
      return true;
    case http::field::unknown:
      switch (name_string.size()) {
        case 7:
          return iequals(name_string, "api-key");  // Azure-style key: the client's credential
        case 9:
          return iequals(name_string, "x-real-ip");
        case 15:
          return iequals(name_string, "x-forwarded-for");
        default:
          return false;
      }
    default:
      return false;
  }
}

bool isDroppedRequestHeader(std::string_view name) {
  return isDroppedRequestField(http::string_to_field(name), name);
}

bool isSafePath(std::string_view path) {
  // The usual API path has no dot, plain or percent-encoded.
  if (std::none_of(path.begin(), path.end(), [](char c) { return c == '.' || c == '%'; })) {
    return true;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    std::string_view seg = path.substr(start, end - start);
    if (seg.size() > 6) {  // longer than "%2e%2e": neither "." nor ".."
      start = end + 1;
      continue;
    }
    std::string lowered;
    for (size_t i = 0; i < seg.size(); ++i) {
      if (seg[i] == '%' && i + 3 <= seg.size() && iequals(seg.substr(i, 3), "%2e")) {
        lowered.push_back('.');
        i += 2;
      } else {
        lowered.push_back(seg[i]);
      }
    }
    if (lowered == "." || lowered == "..") {
      return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace fwd::dataplane::proxy
