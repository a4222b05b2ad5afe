// The NodeReport a data plane sends on its Watch stream: this node's view of every upstream of
// the config in force (ejection, active health, 429 cooling), and the test that decides whether
// a fresh report is worth sending.
#pragma once

#include "dataplane/config/compiled_config.h"
#include "dataplane/config/upstream_health.h"
#include "fwd/v1/watch.pb.h"

namespace fwd::dataplane::config {

/// The control plane keeps no more entries than this from one report; sending more would only
/// risk the message size limit and with it the Watch stream.
inline constexpr size_t kMaxReportedUpstreams = 10'000;

/// The state of each upstream of `config` (none when null: no config yet), in try order, the
/// first kMaxReportedUpstreams of them. Takes the registry's mutex: call it from the control
/// plane client's threads, never from a worker.
fwd::v1::NodeReport buildNodeReport(const CompiledConfig* config, UpstreamHealthRegistry& health,
                                    UpstreamHealth::Clock::time_point now);

/// True when `next` says something `last` did not. The countdowns (ejection_left, cooling_left)
/// tick down every second, so only whether they run counts; every other field is compared.
bool reportChanged(const fwd::v1::NodeReport& last, const fwd::v1::NodeReport& next);

}  // namespace fwd::dataplane::config
