// The admin API's notifier calls (fwdctl notify): kept in the config database, never part of a
// snapshot (data planes do not send messages), returned redacted. A notifier's destination is
// resolved and vetted when it is created or changed (a private address is refused unless
// allowed); TestNotifier sends a message at once and answers the receiver's status.
#include <google/protobuf/util/time_util.h>

#include "common/log/log.h"
#include "common/status/grpc_status.h"
#include "controlplane/notify/deliver.h"
#include "controlplane/notify/destination.h"
#include "controlplane/notify/notifier_config.h"
#include "controlplane/service/admin_service.h"

namespace fwd::controlplane::service {
namespace {

constexpr char kLog[] = "controlplane";
// TestNotifier's own deadline, inside fwdctl's default 10 s.
constexpr std::chrono::seconds kTestTimeout{5};

grpc::Status toGrpc(const absl::Status& s) { return common::status::toGrpc(s); }

/// Checks a notifier about to be stored, its destination included.
absl::Status checkNotifier(fwd::v1::Notifier& n) {
  if (absl::Status s = notify::normalizeNotifier(n); !s.ok()) {
    return s;
  }
  absl::StatusOr<notify::WebhookUrl> url = notify::parseWebhookUrl(n.url());
  absl::StatusOr<std::vector<common::net::IpAddress>> vetted =
      notify::vetDestination(*url, n.allow_private_address());
  return vetted.ok() ? absl::OkStatus() : vetted.status();
}

}  // namespace

grpc::Status AdminServiceImpl::CreateNotifier(grpc::ServerContext* context,
                                              const fwd::v1::CreateNotifierRequest* request,
                                              fwd::v1::Notifier* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  fwd::v1::Notifier n = request->notifier();
  if (absl::Status s = checkNotifier(n); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Notifier> created = store_.createNotifier(n);
  if (!created.ok()) {
    return toGrpc(created.status());
  }
  *response = notify::redacted(*created);
  FWD_LOG(kInfo, kLog) << "created notifier \"" << created->name() << "\" (" << created->kind()
                       << " to " << response->url() << ")";
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetNotifier(grpc::ServerContext* context,
                                           const fwd::v1::GetNotifierRequest* request,
                                           fwd::v1::Notifier* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<fwd::v1::Notifier> n = store_.getNotifier(request->name());
  if (!n.ok()) {
    return toGrpc(n.status());
  }
  *response = notify::redacted(*n);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListNotifiers(grpc::ServerContext* context,
                                             const fwd::v1::ListNotifiersRequest* request,
                                             fwd::v1::ListNotifiersResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<fwd::v1::Notifier>> all = store_.listNotifiers();
  if (!all.ok()) {
    return toGrpc(all.status());
  }
  for (const fwd::v1::Notifier& n : *all) {
    *response->add_notifiers() = notify::redacted(n);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::UpdateNotifier(grpc::ServerContext* context,
                                              const fwd::v1::UpdateNotifierRequest* request,
                                              fwd::v1::Notifier* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (absl::Status s = notify::checkNotifierMask(request->update_mask()); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Notifier> stored = store_.getNotifier(request->notifier().name());
  if (!stored.ok()) {
    return toGrpc(stored.status());
  }
  fwd::v1::Notifier n = *stored;
  notify::applyNotifierMask(request->notifier(), request->update_mask(), n);
  if (absl::Status s = checkNotifier(n); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Notifier> updated = store_.updateNotifier(n);
  if (!updated.ok()) {
    return toGrpc(updated.status());
  }
  *response = notify::redacted(*updated);
  FWD_LOG(kInfo, kLog) << "updated notifier \"" << updated->name() << "\"";
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::DeleteNotifier(grpc::ServerContext* context,
                                              const fwd::v1::DeleteNotifierRequest* request,
                                              fwd::v1::DeleteNotifierResponse*) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (absl::Status s = store_.deleteNotifier(request->name()); !s.ok()) {
    return toGrpc(s);
  }
  FWD_LOG(kInfo, kLog) << "deleted notifier \"" << request->name() << "\"";
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::TestNotifier(grpc::ServerContext* context,
                                            const fwd::v1::TestNotifierRequest* request,
                                            fwd::v1::TestNotifierResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<fwd::v1::Notifier> n = store_.getNotifier(request->name());
  if (!n.ok()) {
    return toGrpc(n.status());
  }
  notify::Message m;
  m.event = "test";
  m.text = "test message from fwd (notifier \"" + n->name() + "\")";
  m.time_ms = google::protobuf::util::TimeUtil::TimestampToMilliseconds(
      google::protobuf::util::TimeUtil::GetCurrentTime());
  absl::StatusOr<int> status =
      notify::deliver(*n, m, "fwd-test-" + std::to_string(m.time_ms), kTestTimeout);
  if (!status.ok()) {
    return toGrpc(status.status());
  }
  response->set_status(*status);
  return grpc::Status::OK;
}

}  // namespace fwd::controlplane::service
