#include "common/log/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace fwd::common::log {
namespace {

std::string escaped(std::string_view text) {
  std::string out;
  appendEscaped(out, text);
  return out;
}

TEST(LogTest, ControlCharactersAreEscapedSoOutsideTextCannotForgeLinesOrDriveTerminals) {
  // A newline would start a forged log line, ESC and the C1 CSI would reach the terminal.
  EXPECT_EQ(escaped("boom\n2026-01-01T00:00:00.000Z error fake: forged"),
            "boom\\n2026-01-01T00:00:00.000Z error fake: forged");
  EXPECT_EQ(escaped("a\rb\tc"), "a\\rb\\tc");
  EXPECT_EQ(escaped("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(escaped(std::string("nul\0byte", 8)), "nul\\x00byte");
  EXPECT_EQ(escaped("del\x7f"), "del\\x7f");
  EXPECT_EQ(escaped("csi \xc2\x9b"
                    "31m"),
            "csi \\u009b31m");
  // Bytes that are not UTF-8 (a lone 0x9b, a cut sequence, an overlong '/', a surrogate).
  EXPECT_EQ(escaped("\x9b"
                    "31m"),
            "\\x9b31m");
  EXPECT_EQ(escaped("cut \xe2\x82"), "cut \\xe2\\x82");
  EXPECT_EQ(escaped("\xc0\xaf"), "\\xc0\\xaf");
  EXPECT_EQ(escaped("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  // Printable text and valid UTF-8 pass as they are.
  EXPECT_EQ(escaped("model `gpt-4o` — 東京 🚀 \xc2\xa0ok"), "model `gpt-4o` — 東京 🚀 \xc2\xa0ok");
}

// Replaces stderr with a pipe for the test's lifetime.
class StderrPipe {
 public:
  StderrPipe() {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    read_ = fds[0];
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[1]);
    ::fcntl(read_, F_SETFL, O_NONBLOCK);
  }
  ~StderrPipe() {
    flush(std::chrono::seconds(2));
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    ::close(read_);
  }
  /// Everything written so far that fits the pipe's reads now.
  std::string drain() {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(read_, buf, sizeof buf)) > 0) {
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int read_ = -1;
  int saved_ = -1;
};

TEST(LogTest, AStalledStderrNeverBlocksTheCallerAndDropsAreCountedAndReported) {
  // stderr is a pipe nobody reads (64 KiB of buffer): 20,000 lines of 200 bytes still return at
  // once, the lines the bounded queue cannot hold are counted, and once stderr is read again
  // the writer says how many were lost.
  StderrPipe pipe;
  const std::uint64_t dropped_before = droppedLines();
  const std::string filler(200, 'x');
  auto logged = std::async(std::launch::async, [&] {
    for (int i = 0; i < 20000; ++i) {
      FWD_LOG(kError, "test") << "line " << i << " " << filler;
    }
  });
  ASSERT_EQ(logged.wait_for(std::chrono::seconds(20)), std::future_status::ready)
      << "logging blocked on a full stderr";
  EXPECT_GT(droppedLines(), dropped_before);

  // Read until the writer catches up, then log once more so it reports the loss.
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!flush(std::chrono::milliseconds(10)) && std::chrono::steady_clock::now() < deadline) {
    out += pipe.drain();
  }
  FWD_LOG(kError, "test") << "after";
  while (out.find("test: after") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    flush(std::chrono::milliseconds(10));
    out += pipe.drain();
  }
  EXPECT_NE(out.find("lines dropped: stderr was not keeping up"), std::string::npos);
  EXPECT_NE(out.find("test: line 0 " + filler + "\n"), std::string::npos);
  EXPECT_NE(out.find("test: after\n"), std::string::npos);
}

TEST(LogTest, Utf8IsCheckedAndMadeValid) {
  EXPECT_TRUE(isValidUtf8("plain ascii"));
  EXPECT_TRUE(isValidUtf8("gr\xc3\xbc\xc3\x9f \xe6\xa8\xa1 \xf0\x9f\x98\x80"));
  EXPECT_TRUE(isValidUtf8(std::string("nul\0inside", 11)));
  EXPECT_FALSE(isValidUtf8("cut \xe6\xa8"));
  EXPECT_FALSE(isValidUtf8("\xff"));
  EXPECT_FALSE(isValidUtf8("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(isValidUtf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_EQ(validUtf8("a\xff"
                      "b\xe6\xa8"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(validUtf8("gr\xc3\xbc\xc3\x9f"), "gr\xc3\xbc\xc3\x9f");
}

TEST(LogTest, ARecordIsOneEscapedLine) {
  // Whatever a record holds, it is written as exactly one line with the escapes applied.
  StderrPipe pipe;
  FWD_LOG(kWarn, "test") << "upstream said: "
                         << "bad\ninjected line\x1b[2J";
  ASSERT_TRUE(flush(std::chrono::seconds(5)));
  std::string out = pipe.drain();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.find('\n'), out.size() - 1) << out;
  EXPECT_NE(out.find(" warn test: upstream said: bad\\ninjected line\\x1b[2J\n"), std::string::npos)
      << out;
}

}  // namespace
}  // namespace fwd::common::log
