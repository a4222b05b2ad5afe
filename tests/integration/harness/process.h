// Child processes for integration tests: start a real binary (fake_upstream, fwd-dataplane,
// fwd-controlplane, fwdctl), read what it prints, wait for its "listening <name> <host>:<port>"
// line, and make sure it never outlives the test — the destructor stops and reaps it, and the
// child gets SIGKILL from the kernel if the test process dies first (PR_SET_PDEATHSIG).
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace fwd::harness {

/// Extra environment variables, applied over the inherited environment (or alone).
using EnvMap = std::map<std::string, std::string>;

/// One child process with its stdout and stderr captured line by line.
///
/// Threading: all methods are for the test thread. A background thread reads the pipes; the
/// line buffer is shared under a mutex. PR_SET_PDEATHSIG fires when the *thread* that called
/// start() exits, so start children from the test's main thread (as tests normally do).
class ChildProcess {
 public:
  ChildProcess() = default;
  /// Stops (SIGTERM, 5 s grace, then SIGKILL) and reaps the child; joins the reader thread.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// Forks and execs `path` with `args` (argv[0] is `path`). `env` is added to the inherited
  /// environment, or is the whole environment when `inherit_env` is false. Fails when the
  /// binary cannot be executed (the exec error is reported, not a silent exit 127).
  ::testing::AssertionResult start(const std::string& path, const std::vector<std::string>& args,
                                   const EnvMap& env = {}, bool inherit_env = true);

  /// The child runs as this user and group (a test running as root starts a server that
  /// refuses root, e.g. postgres). Call before start().
  void runAs(uid_t uid, gid_t gid) { run_as_ = std::make_pair(uid, gid); }

  /// Prefix for echoed stderr lines; defaults to the binary's file name.
  void setName(std::string name) { name_ = std::move(name); }
  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }

  /// The first output line (stdout or stderr, in arrival order) that starts with `prefix`,
  /// waiting up to `timeout`. nullopt on timeout or when the child exited without printing it.
  std::optional<std::string> waitForLine(std::string_view prefix,
                                         std::chrono::milliseconds timeout);

  /// Port from a line "listening <name> <host>:<port>" (e.g. name "http", "https", "admin").
  std::optional<std::uint16_t> waitForListening(std::string_view name,
                                                std::chrono::milliseconds timeout);

  /// Sends `signal`, waits up to `grace` for the exit, then SIGKILLs. Returns exitCode().
  std::optional<int> stop(int signal = SIGTERM,
                          std::chrono::milliseconds grace = std::chrono::seconds(5));
  /// Sends `signal` and reaps the child (for SIGKILL, at once).
  std::optional<int> kill(int signal = SIGKILL);
  /// Waits up to `timeout` for the child to exit by itself. Returns exitCode().
  std::optional<int> waitForExit(std::chrono::milliseconds timeout);

  /// nullopt while running (or never started); the exit status when it exited normally;
  /// 128 + signal number when a signal ended it (shell convention).
  std::optional<int> exitCode();
  bool running();

  /// From the next time the child writes to stderr on, stop reading it: the pipe fills up and
  /// the child's writes to stderr block, as under a supervisor that stopped reading its logs.
  void stopReadingStderr() { stderr_unread_ = true; }

  /// Output captured so far, byte for byte.
  std::string stdoutText() const;
  std::string stderrText() const;

 private:
  struct Line {
    bool is_stderr;
    std::string text;
  };

  void readLoop(int out_fd, int err_fd, int wake_fd);
  void appendOutput(bool is_stderr, std::string_view data);
  // Reaps without blocking; true once the child is gone. Caller holds no lock.
  bool reap();
  // After the child exited, lets the reader drain the pipes, then stops it.
  void finishReader();

  std::string name_;
  std::optional<std::pair<uid_t, gid_t>> run_as_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  int wake_read_fd_ = -1;   // wakes the reader thread so it exits even if a grandchild keeps
  int wake_write_fd_ = -1;  // the output pipes open
  std::thread reader_;
  std::atomic<bool> stderr_unread_{false};

  mutable std::mutex mutex_;  // guards lines_, partial_, raw_, pipes_closed_
  std::condition_variable changed_;
  std::vector<Line> lines_;
  std::string partial_[2];  // [0] stdout, [1] stderr: the unterminated tail
  std::string raw_[2];
  bool pipes_closed_ = false;
};

/// A port on 127.0.0.1 the kernel just handed out (closed again, for a server to take; 0 when
/// none could be had).
std::uint16_t freeLoopbackPort();

/// What runCommand() observed.
struct CommandResult {
  int exit_code = -1;  // -1 when it timed out (and was killed)
  bool timed_out = false;
  std::string stdout_text;
  std::string stderr_text;
};

/// Runs a command to completion (e.g. fwdctl), killing it after `timeout`.
CommandResult runCommand(const std::string& path, const std::vector<std::string>& args,
                         const EnvMap& env = {},
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace fwd::harness
