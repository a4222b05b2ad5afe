#include "dataplane/usage/answer_scan.h"

#include <algorithm>
#include <cstring>

namespace fwd::dataplane::usage {
namespace {

namespace od = simdjson::ondemand;

// Keys of interest are short; a longer string is no key of interest.
constexpr size_t kMaxName = 24;

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

const char* find(const char* from, const char* to, char c) {
  return static_cast<const char*>(std::memchr(from, c, static_cast<size_t>(to - from)));
}

}  // namespace

void AnswerScanner::feed(std::string_view b) {
  bytes_ += b.size();
  size_t i = 0;
  while (i < b.size()) {
    switch (state_) {
      case State::kOut: {
        const char* q = find(b.data() + i, b.data() + b.size(), '"');
        if (q == nullptr) {
          return;
        }
        i = static_cast<size_t>(q - b.data()) + 1;
        state_ = State::kString;
        value_string_ = false;
        escaped_ = false;
        name_.clear();
        name_overflow_ = false;
        string_bytes_ = 0;
        break;
      }
      case State::kString:
        i = scanString(b, i);
        break;
      case State::kAfterKey: {
        char c = b[i];
        if (isSpace(c)) {
          ++i;
          break;
        }
        if (!colon_) {
          if (c == ':') {
            colon_ = true;
            ++i;
          } else {
            state_ = State::kOut;  // a string, but no key: look at `c` again
          }
          break;
        }
        state_ = State::kOut;
        if (key_ == Key::kUsage && c == '{') {
          state_ = State::kUsage;
          copy_.assign(1, '{');
          depth_ = 1;
          copy_in_string_ = false;
          copy_escaped_ = false;
          ++i;
        } else if (key_ == Key::kToolCalls && c == '[') {
          state_ = State::kToolArray;
          ++i;
        } else if ((key_ == Key::kContent || key_ == Key::kType) && c == '"') {
          state_ = State::kString;
          value_string_ = true;
          escaped_ = false;
          name_.clear();
          name_overflow_ = false;
          string_bytes_ = 0;
          ++i;
        }
        break;
      }
      case State::kToolArray: {
        char c = b[i];
        if (isSpace(c)) {
          ++i;
          break;
        }
        tool_calls_ = tool_calls_ || c != ']';
        state_ = State::kOut;
        break;
      }
      case State::kUsage:
        i = scanUsage(b, i);
        break;
    }
  }
}

size_t AnswerScanner::scanString(std::string_view b, size_t i) {
  const char* begin = b.data() + i;
  const char* end = b.data() + b.size();
  for (const char* from = begin;;) {
    const char* q = find(from, end, '"');
    const char* limit = q != nullptr ? q : end;
    // A raw newline cannot be inside a JSON string: what looked like one was not (SSE text).
    if (const char* nl = find(from, limit, '\n')) {
      state_ = State::kOut;
      return static_cast<size_t>(nl - b.data()) + 1;
    }
    // The backslashes just before `limit`, and those carried from earlier bytes when the run
    // reaches back to them: an odd run escapes what follows.
    const char* run = limit;
    while (run > begin && run[-1] == '\\') {
      --run;
    }
    size_t backslashes = static_cast<size_t>(limit - run);
    bool odd = (backslashes % 2 == 1) != (run == begin && escaped_);
    size_t taken = static_cast<size_t>(limit - begin);
    if (!name_overflow_) {
      if (name_.size() + taken <= kMaxName) {
        name_.append(begin, taken);
      } else {
        name_overflow_ = true;
      }
    }
    if (q == nullptr) {
      string_bytes_ += taken;
      escaped_ = odd;
      return b.size();
    }
    if (odd) {
      from = q + 1;  // an escaped quote: the string goes on
      if (!name_overflow_) {
        name_overflow_ = name_.size() + 1 > kMaxName;
        if (!name_overflow_) {
          name_ += '"';
        }
      }
      string_bytes_ += taken + 1;
      begin = from;
      escaped_ = false;
      if (from == end) {
        return b.size();
      }
      continue;
    }
    string_bytes_ += taken;
    endString();
    return static_cast<size_t>(q - b.data()) + 1;
  }
}

void AnswerScanner::endString() {
  if (value_string_) {
    if (key_ == Key::kContent && string_bytes_ > 0) {
      ++content_strings_;
      content_bytes_ += string_bytes_;
    } else if (key_ == Key::kType && !name_overflow_ && name_ == "function_call") {
      tool_calls_ = true;
    }
    state_ = State::kOut;
    return;
  }
  key_ = Key::kNone;
  if (!name_overflow_) {
    std::string_view n = name_;
    if (n == "usage") {
      key_ = Key::kUsage;
    } else if (n == "tool_calls") {
      key_ = Key::kToolCalls;
    } else if (n == "content" || n == "text" || n == "reasoning_content" || n == "reasoning" ||
               n == "refusal" || n == "arguments" || n == "delta") {
      key_ = Key::kContent;
    } else if (n == "type") {
      key_ = Key::kType;
    }
  }
  state_ = key_ == Key::kNone ? State::kOut : State::kAfterKey;
  colon_ = false;
}

size_t AnswerScanner::scanUsage(std::string_view b, size_t i) {
  size_t start = i;
  for (; i < b.size(); ++i) {
    char c = b[i];
    if (copy_in_string_) {
      if (copy_escaped_) {
        copy_escaped_ = false;
      } else if (c == '\\') {
        copy_escaped_ = true;
      } else if (c == '"') {
        copy_in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      copy_in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        copy_.append(b.data() + start, i + 1 - start);
        if (copy_.size() <= kMaxUsageBytes) {
          usage_.swap(copy_);
        }
        copy_.clear();
        state_ = State::kOut;
        return i + 1;
      }
    }
  }
  copy_.append(b.data() + start, b.size() - start);
  if (copy_.size() > kMaxUsageBytes) {
    copy_.clear();
    state_ = State::kOut;  // too long to be usage: scan its keys as any others
  }
  return b.size();
}

namespace {

simdjson::padded_string_view padded(std::string& json) {
  if (json.capacity() < json.size() + simdjson::SIMDJSON_PADDING) {
    json.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  }
  return simdjson::padded_string_view(json.data(), json.size(), json.capacity());
}

}  // namespace

bool readUsageObject(od::parser& parser, std::string& json, Usage& out) {
  od::document doc;
  od::object object;
  if (parser.iterate(padded(json)).get(doc) || doc.get_object().get(object)) {
    return false;
  }
  Usage u;
  bool any = false;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return false;
    }
    od::value v = field.value();
    std::uint64_t n = 0;
    if (key == "prompt_tokens" || key == "input_tokens") {
      if (!v.get_uint64().get(n)) {
        any = true;
        u.prompt = n;
      }
    } else if (key == "completion_tokens" || key == "output_tokens") {
      if (!v.get_uint64().get(n)) {
        any = true;
        u.completion = n;
      }
    } else if (key == "total_tokens") {
      if (!v.get_uint64().get(n)) {
        u.total = n;
      }
    } else if (key == "prompt_tokens_details" || key == "input_tokens_details") {
      od::object details;
      if (!v.get_object().get(details) &&
          !details.find_field_unordered("cached_tokens").get_uint64().get(n)) {
        u.cached = n;
      }
    } else if (key == "completion_tokens_details" || key == "output_tokens_details") {
      od::object details;
      if (!v.get_object().get(details) &&
          !details.find_field_unordered("reasoning_tokens").get_uint64().get(n)) {
        u.reasoning = n;
      }
    }
  }
  if (!any) {
    return false;
  }
  u.cached = std::min(u.cached, u.prompt);
  u.reasoning = std::min(u.reasoning, u.completion);
  if (u.total == 0) {
    u.total = u.prompt + u.completion;
  }
  u.reported = true;
  out = u;
  return true;
}

}  // namespace fwd::dataplane::usage
