#include "dataplane/config/node_report.h"

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <string>
#include <vector>

namespace fwd::dataplane::config {
namespace {

bool running(const google::protobuf::Duration& d) { return d.seconds() > 0 || d.nanos() > 0; }

/// `report` with each running countdown replaced by the same 1 ns marker and each stopped one
/// cleared: what is left changes only when something an operator cares about changes.
fwd::v1::NodeReport withoutCountdowns(fwd::v1::NodeReport report) {
  for (fwd::v1::UpstreamState& s : *report.mutable_upstreams()) {
    for (google::protobuf::Duration* d : {s.mutable_ejection_left(), s.mutable_cooling_left()}) {
      const bool on = running(*d);
      d->Clear();
      if (on) {
        d->set_nanos(1);
      }
    }
  }
  return report;
}

}  // namespace

fwd::v1::NodeReport buildNodeReport(const CompiledConfig* config, UpstreamHealthRegistry& health,
                                    UpstreamHealth::Clock::time_point now) {
  fwd::v1::NodeReport report;
  if (config == nullptr) {
    return report;
  }
  std::vector<std::string> names;
  names.reserve(std::min(config->upstreams().size(), kMaxReportedUpstreams));
  for (const UpstreamTarget& t : config->upstreams()) {
    if (names.size() == kMaxReportedUpstreams) {
      break;
    }
    names.push_back(t.name);
  }
  for (fwd::v1::UpstreamState& s : health.report(names, now)) {
    *report.add_upstreams() = std::move(s);
  }
  return report;
}

bool reportChanged(const fwd::v1::NodeReport& last, const fwd::v1::NodeReport& next) {
  return !google::protobuf::util::MessageDifferencer::Equals(withoutCountdowns(last),
                                                             withoutCountdowns(next));
}

}  // namespace fwd::dataplane::config
