// A real Postgres (Debian's postgresql package) for tests: a new cluster (initdb) in a temp dir
// of its own, served on a free loopback port, stopped as a crash would stop it and started
// again on the same port and data. fsync is off (the tests do not crash the machine);
// synchronous commit is on: a commit it acknowledged survives the server's crash. Run as root
// (as CI is), the server runs as the `postgres` user the package creates, since postgres
// refuses root; the temp dir then belongs to that user.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "tests/integration/harness/process.h"
#include "tests/integration/harness/wait.h"

namespace fwd::harness {

class PostgresServer {
 public:
  PostgresServer();
  ~PostgresServer();

  /// Creates the cluster on the first call (user `fwd`, trust authentication on loopback), then
  /// starts postgres (on the port it had before, if any) and waits until it accepts
  /// connections.
  ::testing::AssertionResult start();
  /// Immediate shutdown (SIGQUIT: no checkpoint, as a crash; recovery runs at the next start).
  void stop();
  bool running() const { return process_ != nullptr; }
  std::uint16_t port() const { return port_; }
  /// "host=127.0.0.1 port=PORT user=fwd dbname=postgres".
  std::string dsn() const;

 private:
  ::testing::AssertionResult runAsServerUser(ChildProcess& child, const std::string& path,
                                             const std::vector<std::string>& args);

  TempDir dir_{"fwd-postgres"};
  std::string bin_;  // /usr/lib/postgresql/15/bin
  bool initialised_ = false;
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace fwd::harness
