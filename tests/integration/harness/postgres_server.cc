#include "tests/integration/harness/postgres_server.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>

namespace fwd::harness {
namespace {

/// The newest installed server's bin dir, or "".
std::string serverBinDir() {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    if (std::filesystem::exists(e.path() / "bin" / "postgres")) {
      found.push_back((e.path() / "bin").string());
    }
  }
  std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;  // "9.6" < "15"
  });
  return found.empty() ? std::string() : found.back();
}

}  // namespace

PostgresServer::PostgresServer() : bin_(serverBinDir()) {}

PostgresServer::~PostgresServer() { stop(); }

::testing::AssertionResult PostgresServer::runAsServerUser(ChildProcess& child,
                                                           const std::string& path,
                                                           const std::vector<std::string>& args) {
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) {
      return ::testing::AssertionFailure()
             << "running as root and there is no postgres user to run postgres as (Debian's "
                "postgresql package creates it; deploy/test.sh installs it)";
    }
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path(), ec)) {
      (void)::chown(e.path().c_str(), pw->pw_uid, pw->pw_gid);
    }
    (void)::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid);
    child.runAs(pw->pw_uid, pw->pw_gid);
  }
  return child.start(path, args);
}

::testing::AssertionResult PostgresServer::start() {
  if (bin_.empty()) {
    return ::testing::AssertionFailure()
           << "no Postgres server in /usr/lib/postgresql (deploy/test.sh installs the Debian "
              "package postgresql)";
  }
  if (process_) {
    return ::testing::AssertionSuccess();
  }
  const std::string data = dir_.file("data");
  if (!initialised_) {
    ChildProcess initdb;
    initdb.setName("initdb");
    if (auto started = runAsServerUser(
            initdb, bin_ + "/initdb",
            {"-D", data, "-U", "fwd", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"});
        !started) {
      return started;
    }
    std::optional<int> code = initdb.waitForExit(std::chrono::seconds(60));
    if (code != 0) {
      return ::testing::AssertionFailure() << "initdb failed: " << initdb.stderrText();
    }
    initialised_ = true;
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::uint16_t port = port_ != 0 ? port_ : freeLoopbackPort();
    process_ = std::make_unique<ChildProcess>();
    process_->setName("postgres");
    if (auto started = runAsServerUser(
            *process_, bin_ + "/postgres",
            {"-D", data, "-p", std::to_string(port), "-k", dir_.path().string(), "-c",
             "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off", "-c",
             "shared_buffers=16MB", "-c", "max_connections=20"});
        !started) {
      process_.reset();
      return started;
    }
    // postgres logs to stderr; this line means it serves (after recovery, on a restart).
    for (int i = 0; i < 600; ++i) {
      if (process_->stderrText().find("database system is ready to accept connections") !=
          std::string::npos) {
        port_ = port;
        return ::testing::AssertionSuccess();
      }
      if (process_->exitCode()) {
        break;  // the port was taken meanwhile: another one
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::string log = process_->stderrText();
    process_->kill();
    process_.reset();
    if (port_ != 0) {
      return ::testing::AssertionFailure() << "postgres did not start again: " << log;
    }
  }
  return ::testing::AssertionFailure() << "postgres did not start";
}

void PostgresServer::stop() {
  if (process_) {
    process_->stop(SIGQUIT, std::chrono::seconds(10));
    process_.reset();
  }
}

std::string PostgresServer::dsn() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=fwd dbname=postgres";
}

}  // namespace fwd::harness
