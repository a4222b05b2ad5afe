#include "dataplane/pipeline/answer_editor.h"

namespace fwd::dataplane::pipeline {
namespace {

// Where the event at the start of `text` ends (just past its blank line), or npos.
size_t eventEnd(std::string_view text) {
  size_t lf = text.find("\n\n");
  size_t crlf = text.find("\n\r\n");
  if (lf == std::string_view::npos && crlf == std::string_view::npos) {
    return std::string_view::npos;
  }
  return lf < crlf ? lf + 2 : crlf + 3;
}

}  // namespace

void AnswerEditor::feed(std::string_view payload) {
  if (readers_ == 0) {
    out_.append(payload);
    return;
  }
  held_.append(payload);
  if (!stream_) {
    if (held_.size() > kMaxHeldAnswer) {
      readers_ = 0;
      out_.append(held_);
      held_.clear();
    }
    return;
  }
  passEvents();
  if (readers_ != 0 && held_.size() > kMaxHeldEvent) {
    readers_ = 0;
  }
  if (readers_ == 0) {
    out_.append(held_);
    held_.clear();
  }
}

void AnswerEditor::finish() {
  if (!stream_ && readers_ != 0) {
    policy::AnswerPart part{held_, false};
    ctx_.policies().onAnswer(ctx_, part, readers_, ctx_.policySlots());
  }
  // A JSON answer, or a stream's unfinished last event as it came.
  if (out_.empty()) {
    out_.swap(held_);
  } else {
    out_.append(held_);
  }
  held_.clear();
}

void AnswerEditor::passEvents() {
  std::string_view rest = held_;
  // A long event arriving in many reads is searched once, not again from its start each time
  // (an end's 3 bytes may straddle the old and new bytes).
  size_t from = searched_ > 2 ? searched_ - 2 : 0;
  size_t end;
  while (readers_ != 0 && (end = eventEnd(rest.substr(from))) != std::string_view::npos) {
    passEvent(rest.substr(0, from + end));
    rest.remove_prefix(from + end);
    from = 0;
  }
  held_.erase(0, held_.size() - rest.size());
  searched_ = held_.size();
}

void AnswerEditor::passEvent(std::string_view event) {
  // The event's data lines, joined with '\n' (the SSE rule); where the only one's value is.
  data_.clear();
  size_t lines = 0;
  size_t value_at = 0;
  size_t value_size = 0;
  for (size_t at = 0; at < event.size();) {
    size_t nl = event.find('\n', at);
    size_t next = nl == std::string_view::npos ? event.size() : nl + 1;
    std::string_view line = event.substr(at, next - at);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
      line.remove_suffix(1);
    }
    if (line.starts_with("data:")) {
      size_t skip = line.size() > 5 && line[5] == ' ' ? 6 : 5;
      if (lines++ > 0) {
        data_ += '\n';
      }
      data_.append(line.substr(skip));
      value_at = at + skip;
      value_size = line.size() - skip;
    }
    at = next;
  }
  if (lines == 0 || data_ == "[DONE]") {
    out_.append(event);
    return;
  }
  std::string before = lines == 1 ? std::string() : data_;
  policy::AnswerPart part{data_, true};
  ctx_.policies().onAnswer(ctx_, part, readers_, ctx_.policySlots());
  if (part.drop) {
    return;
  }
  if (part.pace_tokens > 0) {
    pauses_.push_back({out_.size(), part.pace_tokens});
  }
  if (lines == 1) {
    // The event as it came with its one value replaced (unchanged when no policy changed it).
    out_.append(event.substr(0, value_at));
    out_.append(data_);
    out_.append(event.substr(value_at + value_size));
    return;
  }
  if (data_ == before) {
    out_.append(event);
    return;
  }
  // Several data lines joined: the other fields as they came, then the new data, one data line
  // per line of it.
  for (size_t at = 0; at < event.size();) {
    size_t nl = event.find('\n', at);
    size_t next = nl == std::string_view::npos ? event.size() : nl + 1;
    std::string_view line = event.substr(at, next - at);
    if (!line.starts_with("data:") && line != "\n" && line != "\r\n") {
      out_.append(line);
    }
    at = next;
  }
  for (std::string_view rest = data_;;) {
    size_t nl = rest.find('\n');
    out_.append("data: ");
    out_.append(rest.substr(0, nl));
    out_.append("\n");
    if (nl == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(nl + 1);
  }
  out_.append("\n");
}

}  // namespace fwd::dataplane::pipeline
