// Process logging to stderr: one line per record. A record is formatted on the thread that logs
// it, with every control character escaped (outside text such as an upstream's error message
// can neither forge a line nor reach a terminal as an escape sequence), then handed to a bounded
// lock-free queue that one background thread writes out, many lines per write(2). Logging never
// blocks: when stderr stalls (a pipe nobody reads, a slow disk) and the queue is full, the line
// is dropped and counted, and the writer reports how many were lost once stderr moves again.
// Never pass a secret to a log record; log a key's display prefix or name instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

namespace fwd::common::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void setLevel(Level level);
Level level();
/// "debug", "info", "warn", "error"; false for anything else.
bool parseLevel(std::string_view text, Level& out);

/// Lines lost because the queue was full (stderr not keeping up), since the process started.
std::uint64_t droppedLines();
/// Waits until the writer has written every queued line, at most `timeout`; false if it could
/// not (stderr stalled). Called at exit automatically (with 2 s); any thread.
bool flush(std::chrono::milliseconds timeout);

/// Length of the valid UTF-8 sequence of two to four bytes at the start of `s`, or 0 when
/// there is none (an ASCII byte, overlong forms, surrogates, code points over U+10FFFF).
size_t utf8Length(std::string_view s);

/// Whether `s` is all valid UTF-8, as protobuf's string fields require (a message holding
/// other bytes does not parse).
bool isValidUtf8(std::string_view s);
/// `s` with every byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string validUtf8(std::string_view s);

/// Appends `text` with control characters escaped: \n \r \t as such, other C0 bytes, DEL and
/// bytes that are not part of valid UTF-8 as \xNN, C1 controls (U+0080..U+009F) as \u00NN.
/// Printable ASCII and valid UTF-8 pass unchanged.
void appendEscaped(std::string& out, std::string_view text);

/// One record; the line is queued when the object is destroyed. Lines longer than
/// kMaxLineBytes are cut there.
class Record {
 public:
  static constexpr size_t kMaxLineBytes = 16 * 1024;

  Record(Level level, const char* component);
  ~Record();
  Record(const Record&) = delete;
  Record& operator=(const Record&) = delete;

  template <typename T>
  Record& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  Level level_;
  std::string prefix_;  // time, level and component: fwd's own text, not escaped
  std::ostringstream stream_;
};

}  // namespace fwd::common::log

#define FWD_LOG(lvl, component)                                       \
  if (::fwd::common::log::Level::lvl < ::fwd::common::log::level()) { \
  } else                                                              \
    ::fwd::common::log::Record(::fwd::common::log::Level::lvl, component)
