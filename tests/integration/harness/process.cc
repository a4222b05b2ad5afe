// fork/exec with captured output for integration tests.
#include "tests/integration/harness/process.h"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>

extern char** environ;

namespace fwd::harness {
namespace {

// How long the reader may keep draining after the child exited; a grandchild holding the pipes
// open must not hang the test.
constexpr auto kDrainTimeout = std::chrono::milliseconds(500);

void closeFd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

std::string baseName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

}  // namespace

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    stop(SIGTERM, std::chrono::seconds(5));
  }
  finishReader();
}

::testing::AssertionResult ChildProcess::start(const std::string& path,
                                               const std::vector<std::string>& args,
                                               const EnvMap& env, bool inherit_env) {
  if (pid_ > 0) {
    return ::testing::AssertionFailure() << name_ << " already started";
  }
  if (name_.empty()) {
    name_ = baseName(path);
  }
  // Everything the child touches is prepared before fork(): after it, in a multi-threaded
  // parent, the child may only call async-signal-safe functions.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(path);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);

  std::map<std::string, std::string> merged;
  if (inherit_env) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view entry(*e);
      size_t eq = entry.find('=');
      if (eq != std::string_view::npos) {
        merged[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
      }
    }
  }
  for (const auto& [key, value] : env) {
    merged[key] = value;
  }
  std::vector<std::string> env_storage;
  for (const auto& [key, value] : merged) {
    env_storage.push_back(key + "=" + value);
  }
  std::vector<char*> envp;
  for (std::string& entry : env_storage) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2], exec_pipe[2], wake_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return ::testing::AssertionFailure() << "pipe2: " << std::strerror(errno);
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0 || ::pipe2(exec_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(wake_pipe, O_CLOEXEC) != 0) {
    return ::testing::AssertionFailure() << "pipe2: " << std::strerror(errno);
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    return ::testing::AssertionFailure() << "fork: " << std::strerror(errno);
  }
  if (pid == 0) {
    // Credentials first: changing them clears the parent-death signal.
    if (run_as_.has_value() && (::setgroups(0, nullptr) != 0 || ::setgid(run_as_->second) != 0 ||
                                ::setuid(run_as_->first) != 0)) {
      int error = errno;
      ssize_t ignored = ::write(exec_pipe[1], &error, sizeof(error));
      (void)ignored;
      ::_exit(127);
    }
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);  // the parent died between fork() and prctl()
    }
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) {
      ::dup2(null_fd, STDIN_FILENO);
    }
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    // Tests may ignore SIGPIPE or block signals; the child starts with defaults.
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(path.c_str(), argv.data(), envp.data());
    int error = errno;
    ssize_t ignored = ::write(exec_pipe[1], &error, sizeof(error));
    (void)ignored;
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(exec_pipe[1]);
  // EOF means exec succeeded (the pipe is close-on-exec); an int is the exec errno.
  int exec_error = 0;
  ssize_t n;
  do {
    n = ::read(exec_pipe[0], &exec_error, sizeof(exec_error));
  } while (n < 0 && errno == EINTR);
  ::close(exec_pipe[0]);
  if (n == sizeof(exec_error)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    ::close(wake_pipe[0]);
    ::close(wake_pipe[1]);
    return ::testing::AssertionFailure()
           << "cannot execute " << path << ": " << std::strerror(exec_error);
  }
  pid_ = pid;
  wake_read_fd_ = wake_pipe[0];
  wake_write_fd_ = wake_pipe[1];
  reader_ = std::thread(&ChildProcess::readLoop, this, out_pipe[0], err_pipe[0], wake_pipe[0]);
  return ::testing::AssertionSuccess();
}

void ChildProcess::readLoop(int out_fd, int err_fd, int wake_fd) {
  char buffer[16384];
  int fds[2] = {out_fd, err_fd};
  for (;;) {
    pollfd polls[3];
    int count = 0;
    int index_of[3];
    for (int i = 0; i < 2; ++i) {
      if (fds[i] >= 0 && !(i == 1 && stderr_unread_)) {
        polls[count] = {fds[i], POLLIN, 0};
        index_of[count++] = i;
      }
    }
    if (count == 0) {
      break;
    }
    polls[count] = {wake_fd, POLLIN, 0};
    index_of[count++] = 2;
    if (::poll(polls, count, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    bool woken = false;
    for (int p = 0; p < count; ++p) {
      if (polls[p].revents == 0) {
        continue;
      }
      int i = index_of[p];
      if (i == 2) {
        woken = true;
        continue;
      }
      ssize_t n = ::read(fds[i], buffer, sizeof(buffer));
      if (n > 0) {
        appendOutput(i == 1, std::string_view(buffer, static_cast<size_t>(n)));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        closeFd(fds[i]);
      }
    }
    if (woken) {
      break;
    }
  }
  closeFd(fds[0]);
  closeFd(fds[1]);
  // wake_fd stays open until finishReader() has written to it: closing it here would turn that
  // write into SIGPIPE.
  std::lock_guard<std::mutex> lock(mutex_);
  for (int i = 0; i < 2; ++i) {
    if (!partial_[i].empty()) {
      lines_.push_back(Line{i == 1, std::move(partial_[i])});
      partial_[i].clear();
    }
  }
  pipes_closed_ = true;
  changed_.notify_all();
}

void ChildProcess::appendOutput(bool is_stderr, std::string_view data) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int i = is_stderr ? 1 : 0;
  raw_[i].append(data);
  std::string& partial = partial_[i];
  partial.append(data);
  size_t start = 0;
  for (size_t nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n', start)) {
    std::string line = partial.substr(start, nl - start);
    if (is_stderr) {
      // One fwrite per line so CI logs keep lines of parallel children whole.
      std::string echo = "[" + name_ + "] " + line + "\n";
      std::fwrite(echo.data(), 1, echo.size(), stderr);
    }
    lines_.push_back(Line{is_stderr, std::move(line)});
    start = nl + 1;
  }
  partial.erase(0, start);
  changed_.notify_all();
}

std::optional<std::string> ChildProcess::waitForLine(std::string_view prefix,
                                                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mutex_);
  size_t scanned = 0;
  for (;;) {
    for (; scanned < lines_.size(); ++scanned) {
      if (std::string_view(lines_[scanned].text).starts_with(prefix)) {
        return lines_[scanned].text;
      }
    }
    if (pipes_closed_) {
      return std::nullopt;
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        scanned == lines_.size()) {
      return std::nullopt;
    }
  }
}

std::optional<std::uint16_t> ChildProcess::waitForListening(std::string_view name,
                                                            std::chrono::milliseconds timeout) {
  std::string prefix = "listening " + std::string(name) + " ";
  std::optional<std::string> line = waitForLine(prefix, timeout);
  if (!line) {
    return std::nullopt;
  }
  size_t colon = line->rfind(':');
  if (colon == std::string::npos) {
    return std::nullopt;
  }
  std::string_view digits = std::string_view(*line).substr(colon + 1);
  while (!digits.empty() && (digits.back() == '\r' || digits.back() == ' ')) {
    digits.remove_suffix(1);
  }
  std::uint16_t port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size() || port == 0) {
    return std::nullopt;
  }
  return port;
}

bool ChildProcess::reap() {
  if (pid_ <= 0 || exit_code_) {
    return true;
  }
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) {
    return false;
  }
  if (r < 0) {
    exit_code_ = -1;  // already reaped elsewhere; the status is lost
  } else if (WIFEXITED(status)) {
    exit_code_ = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit_code_ = 128 + WTERMSIG(status);
  } else {
    return false;
  }
  return true;
}

std::optional<int> ChildProcess::waitForExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) {
    return exit_code_;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // A pidfd wakes us at the exit itself; without one (old kernel), poll with a short backoff.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  auto backoff = std::chrono::milliseconds(1);
  while (!reap()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(1, left.count())));
    } else {
      std::this_thread::sleep_for(std::min(backoff, left));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(20));
    }
  }
  if (pidfd >= 0) {
    ::close(pidfd);
  }
  if (exit_code_) {
    finishReader();
  }
  return exit_code_;
}

std::optional<int> ChildProcess::stop(int signal, std::chrono::milliseconds grace) {
  if (pid_ <= 0 || reap()) {
    finishReader();
    return exit_code_;
  }
  ::kill(pid_, signal);
  if (waitForExit(grace)) {
    return exit_code_;
  }
  std::fprintf(stderr, "[%s] did not exit %lld ms after signal %d; sending SIGKILL\n",
               name_.c_str(), static_cast<long long>(grace.count()), signal);
  return kill(SIGKILL);
}

std::optional<int> ChildProcess::kill(int signal) {
  if (pid_ <= 0 || reap()) {
    return exit_code_;
  }
  ::kill(pid_, signal);
  if (signal == SIGKILL) {
    // SIGKILL cannot be caught: the exit is imminent, so this wait is bounded.
    return waitForExit(std::chrono::seconds(30));
  }
  return exitCode();
}

std::optional<int> ChildProcess::exitCode() {
  reap();
  return exit_code_;
}

bool ChildProcess::running() { return pid_ > 0 && !exitCode().has_value(); }

std::string ChildProcess::stdoutText() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return raw_[0];
}

std::string ChildProcess::stderrText() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return raw_[1];
}

void ChildProcess::finishReader() {
  if (!reader_.joinable()) {
    return;
  }
  {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, kDrainTimeout, [this] { return pipes_closed_; });
  }
  char wake = 1;
  ssize_t ignored = ::write(wake_write_fd_, &wake, 1);
  (void)ignored;
  reader_.join();
  closeFd(wake_write_fd_);
  closeFd(wake_read_fd_);
}

CommandResult runCommand(const std::string& path, const std::vector<std::string>& args,
                         const EnvMap& env, std::chrono::milliseconds timeout) {
  CommandResult result;
  ChildProcess child;
  ::testing::AssertionResult started = child.start(path, args, env);
  if (!started) {
    result.stderr_text = started.message();
    return result;
  }
  std::optional<int> code = child.waitForExit(timeout);
  if (!code) {
    result.timed_out = true;
    child.kill(SIGKILL);
  } else {
    result.exit_code = *code;
  }
  result.stdout_text = child.stdoutText();
  result.stderr_text = child.stderrText();
  return result;
}

std::uint16_t freeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) {
    ::close(fd);
  }
  return port;
}

}  // namespace fwd::harness
