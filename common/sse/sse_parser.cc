#include "common/sse/sse_parser.h"

namespace fwd::common::sse {

bool SseParser::feed(std::string_view bytes) {
  if (failed_) {
    return false;
  }
  size_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (c != '\n' && c != '\r') {
      last_was_cr_ = false;
      continue;
    }
    if (c == '\n' && last_was_cr_ && i == start && line_.empty()) {
      // The LF of a CRLF pair whose CR ended the previous line.
      last_was_cr_ = false;
      start = i + 1;
      continue;
    }
    last_was_cr_ = (c == '\r');
    std::string_view piece = bytes.substr(start, i - start);
    if (line_.empty()) {
      processLine(piece);
    } else {
      line_.append(piece);
      processLine(line_);
      line_.clear();
    }
    start = i + 1;
  }
  line_.append(bytes.substr(start));
  if (line_.size() + current_.data.size() > max_event_bytes_) {
    failed_ = true;
    line_.clear();
    return false;
  }
  return true;
}

void SseParser::processLine(std::string_view line) {
  if (line.empty()) {
    if (has_data_) {
      ++events_;
      on_event_(current_);
    }
    current_ = Event{};
    has_data_ = false;
    return;
  }
  if (line.front() == ':') {
    return;  // comment, e.g. keep-alive ": ping"
  }
  std::string_view field = line;
  std::string_view value;
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
  }
  if (field == "data") {
    if (has_data_) {
      current_.data.push_back('\n');
    }
    current_.data.append(value);
    has_data_ = true;
    if (current_.data.size() > max_event_bytes_) {
      failed_ = true;
    }
  } else if (field == "event") {
    current_.event.assign(value);
  } else if (field == "id") {
    current_.id.assign(value);
  }
}

}  // namespace fwd::common::sse
