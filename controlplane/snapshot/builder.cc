#include "controlplane/snapshot/builder.h"

#include "controlplane/validate/settings.h"

namespace fwd::controlplane::snapshot {

SnapshotConstSharedPtr buildSnapshot(const store::ConfigState& state,
                                     std::chrono::system_clock::time_point now) {
  auto snapshot = std::make_shared<fwd::v1::Snapshot>();
  snapshot->set_version(state.version);
  for (const fwd::v1::Upstream& u : state.upstreams) {
    *snapshot->add_upstreams() = u;
  }
  auto now_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  for (const fwd::v1::Key& k : state.active_keys) {
    fwd::v1::Key* key = snapshot->add_keys();
    *key = k;
    // A previous secret whose grace period is over never leaves the control plane again (data
    // planes also refuse it by its expiry).
    if (key->has_previous_secret_expire_time() &&
        key->previous_secret_expire_time().seconds() <= now_seconds) {
      key->clear_previous_secret_sha256();
      key->clear_previous_secret_expire_time();
    }
  }
  for (const fwd::v1::Route& r : state.routes) {
    *snapshot->add_routes() = r;
  }
  validate::applySettings(state.settings, *snapshot->mutable_settings());
  for (const fwd::v1::Price& price : state.prices) {
    *snapshot->add_prices() = price;
  }
  for (const fwd::v1::IpRule& rule : state.ip_rules) {
    *snapshot->add_ip_rules() = rule;
  }
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  snapshot->mutable_create_time()->set_seconds(nanos / 1000000000);
  snapshot->mutable_create_time()->set_nanos(static_cast<std::int32_t>(nanos % 1000000000));
  return snapshot;
}

absl::StatusOr<SnapshotConstSharedPtr> loadSnapshot(store::Store& store,
                                                    std::chrono::system_clock::time_point now) {
  absl::StatusOr<store::ConfigState> state = store.readConfig();
  if (!state.ok()) {
    return state.status();
  }
  return buildSnapshot(*state, now);
}

}  // namespace fwd::controlplane::snapshot
