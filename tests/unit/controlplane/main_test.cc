// The fwd-controlplane binary as operators and the integration harness run it: flag errors,
// the "listening grpc" line on stdout, token files, persistence across restarts, and a prompt
// clean exit on SIGTERM while a data plane is watching.
#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <regex>
#include <thread>

#include "fwd/v1/admin.grpc.pb.h"
#include "fwd/v1/watch.grpc.pb.h"
#include "tests/unit/controlplane/temp_dir.h"

extern char** environ;

namespace fwd::controlplane {
namespace {

using controlplane::testing::readFile;
using controlplane::testing::TempDir;
using std::chrono::steady_clock;

constexpr auto kStartLimit = std::chrono::seconds(10);

/// fwd-controlplane as a child process with its stdout and stderr on pipes.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int out[2];
    int err[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    std::vector<std::string> full = {FWD_CONTROLPLANE_BIN};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : full) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, FWD_CONTROLPLANE_BIN, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err[1]);
    stdout_fd_ = out[0];
    stderr_fd_ = err[0];
  }

  ~Child() {
    if (!exited_) {
      ::kill(pid_, SIGKILL);
      waitExit(std::chrono::seconds(5));
    }
    ::close(stdout_fd_);
    ::close(stderr_fd_);
  }

  /// The first stdout line, waiting at most `limit`.
  std::optional<std::string> readLine(std::chrono::milliseconds limit) {
    const auto deadline = steady_clock::now() + limit;
    while (out_.find('\n') == std::string::npos) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
      if (left.count() <= 0 || !readSome(stdout_fd_, out_, left)) {
        return std::nullopt;
      }
    }
    return out_.substr(0, out_.find('\n'));
  }

  /// Exit code after the process ended, or nullopt if it still ran after `limit`.
  std::optional<int> waitExit(std::chrono::milliseconds limit) {
    const auto deadline = steady_clock::now() + limit;
    while (steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return std::nullopt;
  }

  void signal(int sig) { ::kill(pid_, sig); }

  /// Everything written to stderr so far (after exit: all of it).
  std::string stderrText() {
    while (readSome(stderr_fd_, err_, std::chrono::milliseconds(0))) {
    }
    return err_;
  }
  std::string stdoutText() {
    while (readSome(stdout_fd_, out_, std::chrono::milliseconds(0))) {
    }
    return out_;
  }

 private:
  static bool readSome(int fd, std::string& into, std::chrono::milliseconds wait) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) {
      return false;
    }
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      return false;
    }
    into.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::string out_;
  std::string err_;
  bool exited_ = false;
};

std::string trimmed(std::string text) {
  while (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  return text;
}

/// Starts the binary on port 0 and returns the port it reports, 0 on failure.
int startAndReadPort(Child& child) {
  std::optional<std::string> line = child.readLine(kStartLimit);
  if (!line) {
    ADD_FAILURE() << "no listening line; stderr:\n" << child.stderrText();
    return 0;
  }
  std::smatch m;
  static const std::regex kLine(R"(listening grpc 127\.0\.0\.1:(\d+))");
  if (!std::regex_match(*line, m, kLine)) {
    ADD_FAILURE() << "unexpected stdout line: " << *line;
    return 0;
  }
  return std::stoi(m[1]);
}

TEST(ControlplaneBinaryTest, BadFlagsExitTwoWithOneLine) {
  // Unknown flags and bad values: exit 2, one line on stderr, nothing on stdout.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--bogus"},
        {"--listen", "no-port"},
        {"--log-level", "loud"},
        {"--data-dir"},
        {"--records-postgres", "host='unterminated"},
        {"--records-postgres", "dbname=fwd", "--records-dir", "/tmp/records"}}) {
    Child child(args);
    EXPECT_EQ(child.waitExit(kStartLimit), 2) << args[0];
    std::string err = child.stderrText();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_EQ(err.rfind("fwd-controlplane: ", 0), 0u) << err;
    EXPECT_EQ(child.stdoutText(), "");
  }
  Child help({"--help"});
  EXPECT_EQ(help.waitExit(kStartLimit), 0);
  EXPECT_NE(help.stdoutText().find("--data-dir"), std::string::npos);
}

TEST(ControlplaneBinaryTest, ServesPersistsAndStopsPromptlyOnSigterm) {
  // Port 0 is reported on stdout; tokens are written once; config survives a restart; SIGTERM
  // with a Watch stream open exits 0 within 2 s.
  TempDir tmp;
  const std::string data = tmp.file("fwd-data");
  std::string admin_token;
  std::string node_token;
  {
    Child child({"--listen", "127.0.0.1:0", "--data-dir", data, "--log-level", "debug"});
    int port = startAndReadPort(child);
    ASSERT_GT(port, 0);
    struct stat st {};
    ASSERT_EQ(::stat(data.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    admin_token = trimmed(readFile(data + "/admin.token"));
    node_token = trimmed(readFile(data + "/node.token"));
    ASSERT_EQ(admin_token.rfind("fwd-admin-", 0), 0u);
    ASSERT_EQ(node_token.rfind("fwd-node-", 0), 0u);

    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials());
    auto admin = fwd::v1::AdminService::NewStub(channel);
    grpc::ClientContext create_context;
    create_context.AddMetadata("authorization", "Bearer " + admin_token);
    fwd::v1::CreateUpstreamRequest create;
    create.mutable_upstream()->set_name("local");
    create.mutable_upstream()->set_base_url("http://127.0.0.1:9/v1");
    create.mutable_upstream()->set_api_key("sk-never-logged-1234");
    fwd::v1::Upstream created;
    ASSERT_TRUE(admin->CreateUpstream(&create_context, create, &created).ok());

    auto watch = fwd::v1::WatchService::NewStub(channel);
    grpc::ClientContext watch_context;
    watch_context.AddMetadata("authorization", "Bearer " + node_token);
    watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    auto stream = watch->Watch(&watch_context);
    fwd::v1::WatchRequest hello;
    hello.mutable_hello()->set_node_id("dp-1");
    ASSERT_TRUE(stream->Write(hello));
    fwd::v1::WatchResponse response;
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.snapshot().version(), 1u);

    const auto start = steady_clock::now();
    child.signal(SIGTERM);
    EXPECT_EQ(child.waitExit(std::chrono::seconds(2)), 0) << child.stderrText();
    EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(2));
    EXPECT_FALSE(stream->Read(&response));
    std::string log = child.stderrText();
    EXPECT_EQ(log.find(admin_token), std::string::npos);
    EXPECT_EQ(log.find(node_token), std::string::npos);
    EXPECT_EQ(log.find("sk-never-logged"), std::string::npos);
  }
  {
    Child child({"--listen", "127.0.0.1:0", "--data-dir", data});
    int port = startAndReadPort(child);
    ASSERT_GT(port, 0);
    EXPECT_EQ(trimmed(readFile(data + "/admin.token")), admin_token);
    EXPECT_EQ(trimmed(readFile(data + "/node.token")), node_token);
    auto admin = fwd::v1::AdminService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + admin_token);
    fwd::v1::GetStatusResponse status;
    ASSERT_TRUE(admin->GetStatus(&context, {}, &status).ok());
    EXPECT_EQ(status.version(), 1u);
    child.signal(SIGINT);
    EXPECT_EQ(child.waitExit(std::chrono::seconds(2)), 0);
  }
}

TEST(ControlplaneBinaryTest, ASecondControlPlaneOnAPortInUseExitsOne) {
  // gRPC's default SO_REUSEPORT would let a second control plane share the port and take half
  // of the first one's connections; with it off the second cannot bind, says so and exits 1.
  TempDir tmp;
  Child first({"--listen", "127.0.0.1:0", "--data-dir", tmp.file("one")});
  int port = startAndReadPort(first);
  ASSERT_GT(port, 0);
  Child second({"--listen", "127.0.0.1:" + std::to_string(port), "--data-dir", tmp.file("two")});
  EXPECT_EQ(second.waitExit(kStartLimit), 1) << second.stderrText();
  EXPECT_NE(second.stderrText().find("cannot listen on 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << second.stderrText();
  EXPECT_EQ(second.stdoutText(), "");
  first.signal(SIGTERM);
  EXPECT_EQ(first.waitExit(std::chrono::seconds(2)), 0);
}

}  // namespace
}  // namespace fwd::controlplane
