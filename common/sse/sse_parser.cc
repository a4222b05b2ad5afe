#include "common/sse/sse_parser.h"

#include <cstring>

namespace fwd::common::sse {

bool SseParser::feed(std::string_view bytes) {
  if (failed_) {
    return false;
  }
  // Lines end at '\n', '\r' or "\r\n". memchr (vectorised in libc) finds the next '\n', then
  // any '\r' before it: two scans per line instead of a branch per byte, and one when the piece
  // holds no '\r' at all (LLM upstreams end lines with '\n' only).
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  const char* start = p;
  const bool has_cr = std::memchr(p, '\r', bytes.size()) != nullptr;
  while (p < end) {
    if (*p == '\n' && p == start && line_.empty() && !last_was_cr_) {
      // A blank line ending an event: the second '\n' of "\n\n", no search needed.
      endEvent();
      start = ++p;
      continue;
    }
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* limit = nl != nullptr ? nl : end;
    const char* cr =
        has_cr ? static_cast<const char*>(std::memchr(p, '\r', static_cast<size_t>(limit - p)))
               : nullptr;
    const char* term = cr != nullptr ? cr : nl;
    if (term == nullptr) {
      break;
    }
    if (*term == '\n' && last_was_cr_ && term == start && line_.empty()) {
      // The LF of a CRLF pair whose CR ended the previous line.
      last_was_cr_ = false;
      start = p = term + 1;
      continue;
    }
    last_was_cr_ = *term == '\r';
    std::string_view piece(start, static_cast<size_t>(term - start));
    if (line_.empty()) {
      processLine(piece);
    } else {
      line_.append(piece);
      processLine(line_);
      line_.clear();
    }
    start = p = term + 1;
  }
  if (start < end) {
    last_was_cr_ = false;
    line_.append(start, static_cast<size_t>(end - start));
  }
  if (line_.size() + data_bytes_ > max_event_bytes_) {
    failed_ = true;
    line_.clear();
    return false;
  }
  return true;
}

void SseParser::endEvent() {
  if (has_data_) {
    ++events_;
    if (keep_fields_) {
      on_event_(current_);
    }
  }
  data_bytes_ = 0;
  has_data_ = false;
  if (keep_fields_) {
    // Cleared, not replaced: the strings keep their capacity, so the next event allocates
    // nothing.
    current_.event.clear();
    current_.data.clear();
    current_.id.clear();
  }
}

void SseParser::processLine(std::string_view line) {
  if (line.empty()) {
    endEvent();
    return;
  }
  if (line.front() == ':') {
    return;  // comment, e.g. keep-alive ": ping"
  }
  std::string_view field = line;
  std::string_view value;
  if (line.size() >= 5 && std::memcmp(line.data(), "data:", 5) == 0) {
    // Nearly every line of an LLM stream: its field is known without searching for the colon.
    field = line.substr(0, 4);
    value = line.substr(5);
    if (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
  }
  if (field == "data") {
    data_bytes_ += value.size() + (has_data_ ? 1 : 0);
    if (keep_fields_) {
      if (has_data_) {
        current_.data.push_back('\n');
      }
      current_.data.append(value);
    }
    has_data_ = true;
    if (data_bytes_ > max_event_bytes_) {
      failed_ = true;
    }
  } else if (!keep_fields_) {
    return;
  } else if (field == "event") {
    current_.event.assign(value);
  } else if (field == "id") {
    current_.id.assign(value);
  }
}

}  // namespace fwd::common::sse
