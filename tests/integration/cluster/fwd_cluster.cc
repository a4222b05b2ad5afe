#include "tests/integration/cluster/fwd_cluster.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace fwd::harness {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(15);

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

}  // namespace

std::string FakeUpstream::baseUrl() const {
  return std::string(tls ? "https://" : "http://") + endpoint.host + ":" +
         std::to_string(endpoint.port) + "/v1";
}

double metricValue(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

FwdCluster::FwdCluster() : dir_("fwd-cluster") {}

FwdCluster::~FwdCluster() {
  // Data planes first so they drain against live upstreams; children are reaped by
  // ChildProcess destructors in any case.
  for (auto& [id, dp] : data_planes_) {
    if (dp.process) {
      dp.process->stop(SIGTERM, std::chrono::seconds(5));
    }
  }
  if (control_plane_) {
    control_plane_->stop(SIGTERM, std::chrono::seconds(5));
  }
}

::testing::AssertionResult FwdCluster::launchControlPlane(std::uint16_t port) {
  control_plane_ = std::make_unique<ChildProcess>();
  control_plane_->setName("controlplane");
  std::vector<std::string> args = {"--listen", "127.0.0.1:" + std::to_string(port), "--data-dir",
                                   dir_.file("cp-data")};
  args.insert(args.end(), plane_flags_.controlplane.begin(), plane_flags_.controlplane.end());
  auto started = control_plane_->start(FWD_CONTROLPLANE_BIN, args);
  if (!started) {
    return started;
  }
  auto bound = control_plane_->waitForListening("grpc", kStartTimeout);
  if (!bound) {
    return ::testing::AssertionFailure() << "control plane did not report its port; stderr:\n"
                                         << control_plane_->stderrText();
  }
  cp_port_ = *bound;
  admin_token_ = readFile(dir_.file("cp-data/admin.token"));
  if (admin_token_.empty()) {
    return ::testing::AssertionFailure() << "no admin token in cp-data/admin.token";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult FwdCluster::startControlPlane() { return launchControlPlane(0); }

void FwdCluster::killControlPlane() {
  if (control_plane_) {
    control_plane_->kill(SIGKILL);
  }
}

::testing::AssertionResult FwdCluster::restartControlPlaneOnSamePort() {
  if (control_plane_ && control_plane_->running()) {
    control_plane_->stop(SIGTERM, std::chrono::seconds(5));
  }
  // The port was just freed; SO_REUSEADDR lets the new process take it at once.
  return launchControlPlane(cp_port_);
}

std::string FwdCluster::controlPlaneAddress() const {
  return "127.0.0.1:" + std::to_string(cp_port_);
}

::testing::AssertionResult FwdCluster::launchDataPlane(DataPlane& dp) {
  dp.process = std::make_unique<ChildProcess>();
  dp.process->setName("dataplane-" + dp.node_id);
  std::vector<std::string> args = {"--control-plane", controlPlaneAddress(), "--node-token-file",
                                   dir_.file("cp-data/node.token"), "--listen", "127.0.0.1:0",
                                   "--admin-listen", "127.0.0.1:0", "--state-dir", dp.state_dir,
                                   "--node-id", dp.node_id, "--workers", "2", "--drain-timeout",
                                   "5s",
                                   // Tests stop data planes often; the ones about the grace
                                   // set it (a later flag wins).
                                   "--drain-grace", "0s"};
  args.insert(args.end(), plane_flags_.dataplane.begin(), plane_flags_.dataplane.end());
  args.insert(args.end(), dp.extra_args.begin(), dp.extra_args.end());
  // Background model-list fetches would add GET /models to the fakes' request counts that many
  // tests assert; they are off unless a test asks for them.
  if (std::none_of(args.begin(), args.end(),
                   [](const std::string& a) { return a.starts_with("--models-refresh"); })) {
    args.insert(args.end(), {"--models-refresh", "0"});
  }
  auto started = dp.process->start(FWD_DATAPLANE_BIN, args, dp.env);
  if (!started) {
    return started;
  }
  const bool tls = std::find(args.begin(), args.end(), "--tls-cert") != args.end();
  auto http = dp.process->waitForListening(tls ? "https" : "http", kStartTimeout);
  auto admin = dp.process->waitForListening("admin", kStartTimeout);
  if (!http || !admin) {
    return ::testing::AssertionFailure()
           << "data plane " << dp.node_id << " did not report its ports; stderr:\n"
           << dp.process->stderrText();
  }
  dp.http = Endpoint{"127.0.0.1", *http, tls};
  dp.admin = Endpoint{"127.0.0.1", *admin, false};
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult FwdCluster::startDataPlane(const std::string& node_id, EnvMap env,
                                                      std::vector<std::string> extra_args) {
  DataPlane& dp = data_planes_[node_id];
  dp.node_id = node_id;
  dp.state_dir = dir_.file("state-" + node_id);
  dp.env = std::move(env);
  dp.extra_args = std::move(extra_args);
  return launchDataPlane(dp);
}

::testing::AssertionResult FwdCluster::restartDataPlane(const std::string& node_id) {
  DataPlane& dp = dataPlane(node_id);
  auto code = dp.process->stop(SIGTERM, std::chrono::seconds(10));
  if (!code || *code != 0) {
    return ::testing::AssertionFailure()
           << "data plane " << node_id << " did not exit cleanly on SIGTERM";
  }
  return launchDataPlane(dp);
}

DataPlane& FwdCluster::dataPlane(const std::string& node_id) {
  auto it = data_planes_.find(node_id);
  if (it == data_planes_.end()) {
    ADD_FAILURE() << "no data plane " << node_id;
    std::abort();
  }
  return it->second;
}

::testing::AssertionResult FwdCluster::startUpstream(const std::string& name,
                                                     std::vector<std::string> extra_args) {
  FakeUpstream& up = upstreams_[name];
  up.name = name;
  up.process = std::make_unique<ChildProcess>();
  up.process->setName("upstream-" + name);
  std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--name", name};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto started = up.process->start(FAKE_UPSTREAM_BIN, args);
  if (!started) {
    return started;
  }
  up.tls = std::find(extra_args.begin(), extra_args.end(), "--tls-cert") != extra_args.end();
  auto port = up.process->waitForListening(up.tls ? "https" : "http", kStartTimeout);
  if (!port) {
    return ::testing::AssertionFailure() << "fake upstream " << name << " did not start";
  }
  up.endpoint = Endpoint{"127.0.0.1", *port, up.tls};
  return ::testing::AssertionSuccess();
}

FakeUpstream& FwdCluster::upstream(const std::string& name) {
  auto it = upstreams_.find(name);
  if (it == upstreams_.end()) {
    ADD_FAILURE() << "no upstream " << name;
    std::abort();
  }
  return it->second;
}

CommandResult FwdCluster::fwdctl(std::vector<std::string> args) {
  std::vector<std::string> full = {"--server", controlPlaneAddress(), "--token", admin_token_};
  full.insert(full.end(), plane_flags_.fwdctl.begin(), plane_flags_.fwdctl.end());
  full.insert(full.end(), args.begin(), args.end());
  return runCommand(FWDCTL_BIN, full);
}

nlohmann::json FwdCluster::fwdctlJson(std::vector<std::string> args) {
  args.insert(args.begin(), {"-o", "json"});
  CommandResult r = fwdctl(args);
  EXPECT_EQ(r.exit_code, 0) << "fwdctl failed: " << r.stderr_text;
  auto parsed = nlohmann::json::parse(r.stdout_text, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << "fwdctl printed no JSON: " << r.stdout_text;
  return parsed;
}

::testing::AssertionResult FwdCluster::fwdctlInSync(std::vector<std::string> args) {
  CommandResult r = fwdctl(std::move(args));
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure()
           << "fwdctl exited " << r.exit_code << ": " << r.stderr_text;
  }
  return waitInSync();
}

std::string FwdCluster::createKeyInSync(const std::string& name, std::vector<std::string> flags) {
  std::vector<std::string> args = {"-o", "json", "key", "create", name};
  args.insert(args.end(), flags.begin(), flags.end());
  CommandResult r = fwdctl(std::move(args));
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_TRUE(waitInSync());
  return nlohmann::json::parse(r.stdout_text, nullptr, false).value("key", "");
}

std::string FwdCluster::createKey(const std::string& name, std::vector<std::string> models) {
  std::vector<std::string> args = {"key", "create", name};
  for (const auto& m : models) {
    args.push_back("--model");
    args.push_back(m);
  }
  auto j = fwdctlJson(args);
  return j.value("key", "");
}

std::uint64_t FwdCluster::configVersion() {
  return fwdctlJson({"status"}).value("version", std::uint64_t{0});
}

std::uint64_t FwdCluster::appliedVersion(const std::string& node_id) {
  DataPlane& dp = dataPlane(node_id);
  Response r = httpRequest(dp.admin, "GET", "/metrics", {}, "", std::chrono::seconds(2));
  if (r.status != 200) {
    return 0;
  }
  double v = metricValue(r.body, "fwd_config_version");
  return v < 0 ? 0 : static_cast<std::uint64_t>(v);
}

::testing::AssertionResult FwdCluster::waitInSync(std::chrono::milliseconds timeout) {
  std::uint64_t version = configVersion();
  return waitFor(
      [&] {
        for (auto& [id, dp] : data_planes_) {
          if (dp.process && dp.process->running() && appliedVersion(id) != version) {
            return false;
          }
        }
        return true;
      },
      timeout, "every data plane to apply config version " + std::to_string(version));
}

Response FwdCluster::call(const std::string& node_id, const std::string& method,
                          const std::string& target, const std::string& key,
                          const std::string& body, Headers headers,
                          std::chrono::milliseconds timeout) {
  if (!key.empty()) {
    headers.emplace("Authorization", "Bearer " + key);
  }
  if (!body.empty() && headers.count("Content-Type") == 0) {
    headers.emplace("Content-Type", "application/json");
  }
  return httpRequest(dataPlane(node_id).http, method, target, headers, body, timeout);
}

}  // namespace fwd::harness
