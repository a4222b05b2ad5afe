#include "common/log/log.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <thread>

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

// A bounded multi-producer, single-consumer queue of lines (Vyukov's bounded queue: each slot
// carries a sequence number that says whose turn it is). push() never blocks and never waits for
// a lock: a full queue refuses the line.
class LineQueue {
 public:
  explicit LineQueue(size_t capacity)  // a power of two
      : slots_(std::make_unique<Slot[]>(capacity)), mask_(capacity - 1) {
    for (size_t i = 0; i < capacity; ++i) {
      slots_[i].seq.store(i, std::memory_order_relaxed);
    }
  }

  /// Any thread. False when full.
  bool push(std::string&& line) {
    size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      Slot& slot = slots_[pos & mask_];
      size_t seq = slot.seq.load(std::memory_order_acquire);
      auto lag = static_cast<std::ptrdiff_t>(seq - pos);
      if (lag == 0) {
        // The slot is free for `pos`: exactly one producer wins it.
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          slot.line = std::move(line);
          slot.seq.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (lag < 0) {
        return false;  // the consumer has not freed this slot yet: full
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }

  /// The writer thread only. False when empty.
  bool pop(std::string& out) {
    Slot& slot = slots_[tail_ & mask_];
    size_t seq = slot.seq.load(std::memory_order_acquire);
    if (static_cast<std::ptrdiff_t>(seq - (tail_ + 1)) < 0) {
      return false;
    }
    out.swap(slot.line);
    slot.line.clear();
    slot.seq.store(tail_ + mask_ + 1, std::memory_order_release);
    ++tail_;
    return true;
  }

 private:
  struct Slot {
    std::atomic<size_t> seq;
    std::string line;
  };
  std::unique_ptr<Slot[]> slots_;
  const size_t mask_;
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) size_t tail_ = 0;
};

// Writes everything; false when stderr failed (it is then given up on for this batch).
bool writeAll(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(STDERR_FILENO, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// The queue and its writer thread. Created on first use and never destroyed: threads may still
// log while static objects are being destroyed at exit.
class Logger {
 public:
  // 4096 lines of at most 16 KiB: a bound on what a stalled stderr can hold in memory.
  static constexpr size_t kQueueLines = 4096;
  static constexpr size_t kBatchBytes = 64 * 1024;

  static Logger& get() {
    static Logger* logger = new Logger();
    return *logger;
  }

  void submit(std::string&& line) {
    if (!queue_.push(std::move(line))) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queued_.fetch_add(1, std::memory_order_relaxed);
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_one();  // a futex wake only when the writer sleeps
  }

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  bool flush(std::chrono::milliseconds timeout) {
    std::uint64_t target = queued_.load(std::memory_order_relaxed);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (written_.load(std::memory_order_acquire) < target) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

 private:
  Logger() : queue_(kQueueLines) {
    // The writer takes no signal: processes receive theirs by sigwait on their main thread.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    std::thread([this] { run(); }).detach();
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    std::atexit([] { Logger::get().flush(std::chrono::seconds(2)); });
  }

  void run() {
    std::string batch;
    std::string line;
    std::uint64_t reported_drops = 0;
    for (;;) {
      std::uint32_t seen = wake_.load(std::memory_order_acquire);
      std::uint64_t lines = 0;
      batch.clear();
      while (batch.size() < kBatchBytes && queue_.pop(line)) {
        batch += line;
        ++lines;
      }
      if (lines == 0) {
        wake_.wait(seen, std::memory_order_acquire);
        continue;
      }
      std::uint64_t drops = dropped_.load(std::memory_order_relaxed);
      if (drops != reported_drops) {
        // Reported once stderr takes lines again, after the lines queued before the loss.
        batch += "log: " + std::to_string(drops - reported_drops) +
                 " lines dropped: stderr was not keeping up\n";
        reported_drops = drops;
      }
      writeAll(batch);
      written_.fetch_add(lines, std::memory_order_release);
    }
  }

  LineQueue queue_;
  std::atomic<std::uint32_t> wake_{0};
  std::atomic<std::uint64_t> queued_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

void appendHex(std::string& out, const char* prefix, unsigned char c) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out.append(prefix);
  out.push_back(kDigits[c >> 4]);
  out.push_back(kDigits[c & 0xf]);
}

}  // namespace

size_t utf8Length(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = byte(0);
  size_t len = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
  if (len == 0 || s.size() < len) {
    return 0;
  }
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (c == 0xE0) {
    low = 0xA0;
  } else if (c == 0xED) {
    high = 0x9F;
  } else if (c == 0xF0) {
    low = 0x90;
  } else if (c == 0xF4) {
    high = 0x8F;
  }
  if (byte(1) < low || byte(1) > high) {
    return 0;
  }
  for (size_t i = 2; i < len; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) {
      return 0;
    }
  }
  return len;
}

bool isValidUtf8(std::string_view s) {
  // ASCII eight bytes at a time: names, models and paths are nearly always all ASCII.
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    if ((word & 0x8080808080808080ull) != 0) {
      break;
    }
  }
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
    } else if (size_t len = utf8Length(s.substr(i)); len != 0) {
      i += len;
    } else {
      return false;
    }
  }
  return true;
}

std::string validUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      out.push_back(s[i++]);
    } else if (size_t len = utf8Length(s.substr(i)); len != 0) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

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

std::uint64_t droppedLines() { return Logger::get().dropped(); }

bool flush(std::chrono::milliseconds timeout) { return Logger::get().flush(timeout); }

void appendEscaped(std::string& out, std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    // A run of printable ASCII goes in one append.
    size_t run = i;
    while (run < text.size() && text[run] >= 0x20 && text[run] < 0x7f) {
      ++run;
    }
    out.append(text.substr(i, run - i));
    i = run;
    if (i == text.size()) {
      break;
    }
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (c < 0x80) {
      appendHex(out, "\\x", c);  // other C0 controls (ESC among them) and DEL
    } else if (size_t len = utf8Length(text.substr(i)); len == 0) {
      appendHex(out, "\\x", c);
    } else {
      auto second = static_cast<unsigned char>(text[i + 1]);
      if (len == 2 && c == 0xC2 && second < 0xA0) {
        appendHex(out, "\\u00", second);  // a C1 control, e.g. U+009B, the one-byte CSI
      } else {
        out.append(text.substr(i, len));
      }
      i += len;
      continue;
    }
    ++i;
  }
}

Record::Record(Level level, const char* component) : level_(level) {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[48];
  size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ %s ", static_cast<int>(ms.count()),
                levelName(level_));
  prefix_ = stamp;
  prefix_ += component;
  prefix_ += ": ";
}

Record::~Record() {
  std::string line = std::move(prefix_);
  std::string message = stream_.str();
  if (message.size() > kMaxLineBytes) {
    message.resize(kMaxLineBytes);
    message += "...[cut]";
  }
  appendEscaped(line, message);
  line.push_back('\n');
  Logger::get().submit(std::move(line));
}

}  // namespace fwd::common::log
