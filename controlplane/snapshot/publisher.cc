#include "controlplane/snapshot/publisher.h"

#include "controlplane/snapshot/builder.h"

namespace fwd::controlplane::snapshot {

Publisher::Publisher(store::Store& store, SnapshotHub& hub, Clock clock)
    : store_(store),
      hub_(hub),
      clock_(clock ? std::move(clock) : [] { return std::chrono::system_clock::now(); }) {}

absl::Status Publisher::publishCurrent() {
  absl::StatusOr<SnapshotConstSharedPtr> snapshot = loadSnapshot(store_, clock_());
  if (!snapshot.ok()) {
    return snapshot.status();
  }
  hub_.publish(std::move(*snapshot));
  return absl::OkStatus();
}

}  // namespace fwd::controlplane::snapshot
