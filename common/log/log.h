// Process logging to stderr: one line per record, written with a single write(2) so lines from
// different threads never interleave. Never pass a secret to a log record; log a key's display
// prefix or name instead.
#pragma once

#include <sstream>
#include <string_view>

namespace fwd::common::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void setLevel(Level level);
Level level();
/// "debug", "info", "warn", "error"; false for anything else.
bool parseLevel(std::string_view text, Level& out);

/// One record; the line is emitted when the object is destroyed.
class Record {
 public:
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
  std::ostringstream stream_;
};

}  // namespace fwd::common::log

#define FWD_LOG(lvl, component)                                                      \
  if (::fwd::common::log::Level::lvl < ::fwd::common::log::level()) {                \
  } else                                                                             \
    ::fwd::common::log::Record(::fwd::common::log::Level::lvl, component)
