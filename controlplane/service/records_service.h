// fwd.v1.RecordsService: data planes push their request records (issue 17) in batches; each
// batch is written to the records database (records/record_store.h) and acked. A batch that
// cannot be stored (the disk is full, another process holds the file) ends the stream with
// UNAVAILABLE: the data plane keeps it and sends it again, and ids keep it from counting twice.
#pragma once

#include "controlplane/notify/notifications.h"
#include "controlplane/records/record_store.h"
#include "controlplane/service/auth.h"
#include "fwd/v1/records.grpc.pb.h"

namespace fwd::controlplane::service {

class RecordsServiceImpl final : public fwd::v1::RecordsService::Service {
 public:
  static constexpr int kMaxBatch = 1000;
  static constexpr size_t kMaxIdSize = 64;

  /// Every reference must outlive the service.
  /// `notifications` (may be null) hears of each stored batch's records.
  RecordsServiceImpl(records::RecordsDb& store, const TokenAuthenticator& auth,
                     notify::Notifications* notifications = nullptr)
      : store_(store), auth_(auth), notifications_(notifications) {}

  grpc::Status Push(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<fwd::v1::RecordAck, fwd::v1::RecordBatch>* stream) override;

 private:
  records::RecordsDb& store_;
  const TokenAuthenticator& auth_;
  notify::Notifications* notifications_;
};

}  // namespace fwd::controlplane::service
