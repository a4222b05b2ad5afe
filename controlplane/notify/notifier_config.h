// A notifier as the admin API takes and shows it (issue 17): what a valid one is, the defaults
// it gets, the update mask, and the redacted form every answer carries (the URL to scheme and
// host, no token).
#pragma once

#include "absl/status/status.h"
#include "fwd/v1/admin.pb.h"
#include "google/protobuf/field_mask.pb.h"

namespace fwd::controlplane::notify {

/// Checks `n` (INVALID_ARGUMENT naming the field) and fills the defaults: every event when it
/// names none. The destination is not resolved here (vetDestination).
absl::Status normalizeNotifier(fwd::v1::Notifier& n);

/// INVALID_ARGUMENT for a path UpdateNotifier does not take; an empty mask too.
absl::Status checkNotifierMask(const google::protobuf::FieldMask& mask);
/// Copies the masked fields of `patch` into `target`.
void applyNotifierMask(const fwd::v1::Notifier& patch, const google::protobuf::FieldMask& mask,
                       fwd::v1::Notifier& target);

/// What the admin API returns: the URL redacted, the token dropped (has_token says whether
/// there is one).
fwd::v1::Notifier redacted(const fwd::v1::Notifier& n);

}  // namespace fwd::controlplane::notify
