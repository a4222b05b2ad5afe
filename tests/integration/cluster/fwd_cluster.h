// A whole fwd deployment on loopback for integration tests: one control plane, any number of
// data planes and fake upstreams, and fwdctl to steer them — the real binaries, each on port 0
// in its own temp directory, all stopped when the cluster is destroyed.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/harness/binaries.h"
#include "tests/integration/harness/http_client.h"
#include "tests/integration/harness/process.h"
#include "tests/integration/harness/wait.h"

namespace fwd::harness {

struct DataPlane {
  std::string node_id;
  std::string state_dir;
  EnvMap env;
  std::vector<std::string> extra_args;
  std::unique_ptr<ChildProcess> process;
  Endpoint http;
  Endpoint admin;
};

struct FakeUpstream {
  std::string name;
  bool tls = false;
  std::unique_ptr<ChildProcess> process;
  Endpoint endpoint;
  /// e.g. http://127.0.0.1:1234/v1 (https:// when started with --tls-cert)
  std::string baseUrl() const;
};

/// Extra flags for each kind of process, e.g. the TLS files of the gRPC link between planes.
struct PlaneFlags {
  std::vector<std::string> controlplane;
  std::vector<std::string> dataplane;  // before each data plane's own extra args
  std::vector<std::string> fwdctl;
};

class FwdCluster {
 public:
  FwdCluster();
  ~FwdCluster();

  /// Flags every process started from now on gets (set before startControlPlane).
  void setPlaneFlags(PlaneFlags flags) { plane_flags_ = std::move(flags); }

  ::testing::AssertionResult startControlPlane();
  /// SIGKILL: the control plane vanishes without a goodbye.
  void killControlPlane();
  /// Same data dir, new process (and port 0 again, so a new port: data planes started before
  /// keep dialling the old one — use restartControlPlaneOnSamePort for those).
  ::testing::AssertionResult restartControlPlaneOnSamePort();
  std::string controlPlaneAddress() const;
  /// The control plane's process (its output, for tests that read its logs); null when none.
  ChildProcess* controlPlaneProcess() { return control_plane_.get(); }

  /// Starts a data plane with `extra_args` after the cluster's flags. Fetching upstreams' model
  /// lists is off (--models-refresh 0) unless `extra_args` sets --models-refresh.
  ::testing::AssertionResult startDataPlane(const std::string& node_id, EnvMap env = {},
                                            std::vector<std::string> extra_args = {});
  /// Stops (SIGTERM, drained) and starts it again with the same state dir and flags.
  ::testing::AssertionResult restartDataPlane(const std::string& node_id);
  DataPlane& dataPlane(const std::string& node_id);

  ::testing::AssertionResult startUpstream(const std::string& name,
                                           std::vector<std::string> extra_args = {});
  FakeUpstream& upstream(const std::string& name);

  const std::string& adminToken() const { return admin_token_; }
  /// Runs fwdctl against the control plane with the admin token.
  CommandResult fwdctl(std::vector<std::string> args);
  /// Runs `fwdctl -o json ...`, expects exit 0 and parses stdout.
  nlohmann::json fwdctlJson(std::vector<std::string> args);
  /// Runs fwdctl: success when it exits 0 and every running data plane then serves the config
  /// it made (waitInSync).
  ::testing::AssertionResult fwdctlInSync(std::vector<std::string> args);
  /// `fwdctl key create NAME FLAGS...`, waited into every data plane: the secret, or "" (and a
  /// test failure) when it failed.
  std::string createKeyInSync(const std::string& name, std::vector<std::string> flags);
  /// `fwdctl key create NAME [--model P]...`, returns the secret.
  std::string createKey(const std::string& name, std::vector<std::string> models = {});
  std::uint64_t configVersion();

  /// The version in force on a data plane, read from its /metrics; 0 if unreadable.
  std::uint64_t appliedVersion(const std::string& node_id);
  /// Waits until every running data plane serves the control plane's current version.
  ::testing::AssertionResult waitInSync(
      std::chrono::milliseconds timeout = std::chrono::seconds(5));

  /// A request to a data plane with the given key.
  Response call(const std::string& node_id, const std::string& method, const std::string& target,
                const std::string& key, const std::string& body = "", Headers headers = {},
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

  const TempDir& dir() const { return dir_; }

 private:
  ::testing::AssertionResult launchControlPlane(std::uint16_t port);
  ::testing::AssertionResult launchDataPlane(DataPlane& dp);

  TempDir dir_;
  PlaneFlags plane_flags_;
  std::unique_ptr<ChildProcess> control_plane_;
  std::uint16_t cp_port_ = 0;
  std::string admin_token_;
  std::map<std::string, DataPlane> data_planes_;
  std::map<std::string, FakeUpstream> upstreams_;
};

/// The value of an unlabelled metric line `name value` in a Prometheus exposition, or -1.
double metricValue(const std::string& exposition, const std::string& series);

}  // namespace fwd::harness
