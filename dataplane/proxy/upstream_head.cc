#include "dataplane/proxy/upstream_head.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>

namespace fwd::dataplane::proxy {

namespace http = boost::beast::http;

namespace {

void appendNumber(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

}  // namespace

void appendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

bool isDroppedResponseField(http::field name) {
  switch (name) {
    // Hop-by-hop, and the framing fwd sets itself.
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::content_length:
      return true;
    default:
      return false;
  }
}

InterimHeads interimHeads(std::string_view bytes, size_t limit) {
  constexpr std::string_view kHttp11 = "HTTP/1.1 1";
  constexpr std::string_view kHttp10 = "HTTP/1.0 1";
  InterimHeads out;
  for (;;) {
    std::string_view rest = bytes.substr(out.bytes);
    size_t n = std::min(rest.size(), kHttp11.size());
    if (rest.substr(0, n) != kHttp11.substr(0, n) && rest.substr(0, n) != kHttp10.substr(0, n)) {
      return out;  // a final status line (or not HTTP: the parser says so)
    }
    if (rest.size() < 13) {  // "HTTP/1.1 1xx " not all here yet (or nothing after a 1xx)
      out.need_more = true;
      return out;
    }
    if (rest.substr(9, 3) == "101") {
      return out;
    }
    size_t end = rest.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      out.need_more = rest.size() <= limit;
      return out;
    }
    out.bytes += end + 4;
  }
}

bool isDroppedResponseHeader(std::string_view name) {
  return isDroppedResponseField(http::string_to_field(name));
}

void UpstreamHeadParser::on_request_impl(http::verb, boost::beast::string_view,
                                         boost::beast::string_view, int,
                                         boost::beast::error_code& ec) {
  ec = http::error::bad_version;  // a response parser: basic_parser<false> never calls this
}

void UpstreamHeadParser::on_response_impl(int code, boost::beast::string_view reason, int,
                                          boost::beast::error_code& ec) {
  // Beast takes any three digits; fwd writes the status to its client as a number, and "029"
  // or "000" would come out as a status line no client can parse (found by fuzz_upstream_head).
  if (code < 100 || code > 599) {
    ec = http::error::bad_status;
    return;
  }
  status_ = static_cast<unsigned>(code);
  out_.clear();
  request_id_size_ = 0;
  out_.append("HTTP/1.1 ");
  appendNumber(out_, status_);
  out_.push_back(' ');
  if (reason.empty()) {
    reason = http::obsolete_reason(http::int_to_status(status_));
  }
  out_.append(reason.data(), reason.size()).append("\r\n");
}

void UpstreamHeadParser::on_field_impl(http::field name, boost::beast::string_view name_string,
                                       boost::beast::string_view value, boost::beast::error_code&) {
  if (isDroppedResponseField(name)) {
    return;
  }
  switch (name) {
    case http::field::content_type:
      event_stream_ =
          value.size() >= 17 && boost::beast::iequals(value.substr(0, 17), "text/event-stream");
      content_type_at_ = out_.size();
      appendField(out_, std::string_view(name_string.data(), name_string.size()),
                  std::string_view(value.data(), value.size()));
      content_type_size_ = out_.size() - content_type_at_;
      return;
    case http::field::retry_after: {
      std::uint64_t seconds = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (ec == std::errc() && end == value.data() + value.size()) {
        retry_after_ = seconds;
      }
      break;
    }
    case http::field::unknown:
      if (drop_ratelimit_ && name_string.size() > 12 && (name_string[2] | 0x20) == 'r' &&
          boost::beast::iequals(name_string.substr(0, 12), "x-ratelimit-")) {
        return;
      }
      if (name_string.size() == 12 && (name_string[2] | 0x20) == 'r' &&
          boost::beast::iequals(name_string, "x-request-id")) {
        request_id_at_ = out_.size() + name_string.size() + 2;  // after "name: "
        request_id_size_ = value.size();
      }
      break;
    default:
      break;
  }
  appendField(out_, std::string_view(name_string.data(), name_string.size()),
              std::string_view(value.data(), value.size()));
}

void UpstreamHeadParser::restatus(unsigned status) {
  size_t line_end = out_.find("\r\n");
  std::string line = "HTTP/1.1 ";
  appendNumber(line, status);
  line.push_back(' ');
  auto reason = http::obsolete_reason(http::int_to_status(status));
  line.append(reason.data(), reason.size());
  out_.replace(0, line_end, line);
  // The fields after the status line moved.
  auto moved = [&](size_t& at) { at = at + line.size() - line_end; };
  if (request_id_size_ > 0) {
    moved(request_id_at_);
  }
  if (content_type_size_ > 0) {
    moved(content_type_at_);
  }
  std::string real;
  appendNumber(real, status_);
  appendField(out_, "x-fwd-status", real);
}

void UpstreamHeadParser::setContentType(std::string_view value) {
  if (content_type_size_ > 0) {
    out_.erase(content_type_at_, content_type_size_);
    if (request_id_size_ > 0 && request_id_at_ > content_type_at_) {
      request_id_at_ -= content_type_size_;
    }
  }
  content_type_at_ = out_.size();
  appendField(out_, "Content-Type", value);
  content_type_size_ = out_.size() - content_type_at_;
}

void UpstreamHeadParser::finishHead(std::string_view upstream_name, bool chunked,
                                    std::optional<std::uint64_t> length, bool keep_alive) const {
  appendField(out_, "x-fwd-upstream", upstream_name);
  if (chunked) {
    out_.append("Transfer-Encoding: chunked\r\n");
  } else if (length) {
    out_.append("Content-Length: ");
    appendNumber(out_, *length);
    out_.append("\r\n");
  }
  if (!keep_alive) {
    out_.append("Connection: close\r\n");
  }
  out_.append("\r\n");
}

}  // namespace fwd::dataplane::proxy
