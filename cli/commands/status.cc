#include "cli/commands/status.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "cli/commands/health.h"
#include "common/config/duration.h"

namespace fwd::cli::commands {
namespace {

using fwd::common::config::formatDuration;

// Whole seconds: sub-second precision of an uptime is noise.
std::string uptimeText(const fwd::v1::DataPlaneStatus& node) {
  return formatDuration(std::chrono::seconds(node.uptime().seconds()));
}

// "1/4": of the upstreams the node reports on, how many match; "-" without a report (a
// disconnected node, a node with no config or one too old to report).
std::string upstreamCount(const fwd::v1::DataPlaneStatus& node,
                          bool (*matches)(const fwd::v1::UpstreamState&)) {
  if (node.upstreams().empty()) {
    return "-";
  }
  auto n = std::count_if(node.upstreams().begin(), node.upstreams().end(), matches);
  return absl::StrCat(n, "/", node.upstreams_size());
}

bool isEjected(const fwd::v1::UpstreamState& s) { return s.ejected(); }
bool isUnhealthy(const fwd::v1::UpstreamState& s) {
  return s.health() == fwd::v1::UpstreamState::HEALTH_UNHEALTHY;
}

absl::StatusOr<Action> prepareStatus(const Invocation& inv) {
  OutputFormat format = inv.global.output;
  return Action([format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->getStatus(fwd::v1::GetStatusRequest());
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, statusJson(*response));
    } else {
      out << statusText(*response);
    }
    return absl::OkStatus();
  });
}

}  // namespace

std::vector<CommandSpec> statusCommands() {
  return {{"status", "", "", "", "config version and every data plane", {}, prepareStatus}};
}

bool inSync(const fwd::v1::DataPlaneStatus& node, std::uint64_t version) {
  return node.connected() && node.applied_version() == version;
}

Json statusJson(const fwd::v1::GetStatusResponse& status) {
  Json nodes = Json::array();
  for (const fwd::v1::DataPlaneStatus& node : status.dataplanes()) {
    Json upstreams = Json::array();
    for (const fwd::v1::UpstreamState& state : node.upstreams()) {
      upstreams.push_back(upstreamStateJson(state));
    }
    nodes.push_back(Json{
        {"node_id", node.node_id()},
        {"applied_version", node.applied_version()},
        {"connected", node.connected()},
        {"in_sync", inSync(node, status.version())},
        {"last_error", node.last_error()},
        {"last_nack_version", node.last_nack_version()},
        {"uptime", uptimeText(node)},
        {"peer", node.peer()},
        {"build_version", node.build_version()},
        {"last_seen", timestampJson(node.last_seen())},
        {"upstreams", std::move(upstreams)},
    });
  }
  return Json{{"version", status.version()}, {"dataplanes", std::move(nodes)}};
}

std::string statusText(const fwd::v1::GetStatusResponse& status) {
  std::string out = absl::StrCat("config version ", status.version(), "\n");
  if (status.dataplanes().empty()) {
    return out + "no data planes have connected\n";
  }
  Table table(
      {"NODE", "APPLIED", "IN_SYNC", "CONNECTED", "UPTIME", "EJECTED", "UNHEALTHY", "LAST_ERROR"});
  for (const fwd::v1::DataPlaneStatus& node : status.dataplanes()) {
    std::string last_error = "-";
    if (!node.last_error().empty()) {
      last_error = absl::StrCat("v", node.last_nack_version(), ": ", node.last_error());
      std::replace(last_error.begin(), last_error.end(), '\n', ' ');
    }
    table.addRow({node.node_id(), std::to_string(node.applied_version()),
                  inSync(node, status.version()) ? "yes" : "no", node.connected() ? "yes" : "no",
                  uptimeText(node), upstreamCount(node, isEjected),
                  upstreamCount(node, isUnhealthy), last_error});
  }
  return out + table.render();
}

}  // namespace fwd::cli::commands
