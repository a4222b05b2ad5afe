// Waiting without fixed sleeps, and scratch directories, for integration tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

namespace fwd::harness {

/// Polls `cond` (first at once, then with a backoff from 1 ms up to 50 ms) until it holds or
/// `timeout` passes. The failure message names `what` and the time waited.
inline ::testing::AssertionResult waitFor(const std::function<bool()>& cond,
                                          std::chrono::milliseconds timeout, std::string what) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  auto backoff = std::chrono::milliseconds(1);
  for (;;) {
    if (cond()) {
      return ::testing::AssertionSuccess();
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return ::testing::AssertionFailure()
             << "timed out after " << timeout.count() << " ms waiting for " << what;
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }
}

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents at destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "fwd-test") {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" +
                          std::string(prefix) + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << pattern << " failed";
      return;
    }
    path_ = pattern;
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }
  TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// path()/name as a string, for flags.
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline TempDir tempDir(std::string_view prefix = "fwd-test") { return TempDir(prefix); }

}  // namespace fwd::harness
