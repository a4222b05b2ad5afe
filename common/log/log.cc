#include "common/log/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace fwd::common::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};

const char* levelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "?";
}

}  // namespace

void setLevel(Level level) { g_level.store(level, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }

bool parseLevel(std::string_view text, Level& out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == levelName(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

Record::Record(Level level, const char* component) : level_(level) {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms.count()));
  stream_ << stamp << millis << ' ' << levelName(level_) << ' ' << component << ": ";
}

Record::~Record() {
  stream_ << '\n';
  std::string line = stream_.str();
  // A failed write to stderr has nowhere better to be reported.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace fwd::common::log
