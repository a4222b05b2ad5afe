// Turns the store's committed state into the immutable Snapshot every data plane receives.
#pragma once

#include <chrono>
#include <memory>

#include "absl/status/statusor.h"
#include "controlplane/store/store.h"
#include "fwd/v1/config.pb.h"

namespace fwd::controlplane::snapshot {

using SnapshotConstSharedPtr = std::shared_ptr<const fwd::v1::Snapshot>;

/// A snapshot of `state`: upstreams with their api_key (in store order: priority, id), active
/// keys with secret_sha256, routes (priority, id), stamped with `now`.
SnapshotConstSharedPtr buildSnapshot(const store::ConfigState& state,
                                     std::chrono::system_clock::time_point now);

/// Reads one consistent state from `store` and builds its snapshot.
absl::StatusOr<SnapshotConstSharedPtr> loadSnapshot(store::Store& store,
                                                    std::chrono::system_clock::time_point now);

}  // namespace fwd::controlplane::snapshot
