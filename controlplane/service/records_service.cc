#include "controlplane/service/records_service.h"

#include "common/log/log.h"

namespace fwd::controlplane::service {

grpc::Status RecordsServiceImpl::Push(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<fwd::v1::RecordAck, fwd::v1::RecordBatch>* stream) {
  if (grpc::Status auth = auth_.checkNode(*context); !auth.ok()) {
    return auth;
  }
  fwd::v1::RecordBatch batch;
  while (stream->Read(&batch)) {
    if (batch.records_size() > kMaxBatch) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "a batch holds at most " + std::to_string(kMaxBatch) + " records, got " +
                              std::to_string(batch.records_size()));
    }
    for (fwd::v1::Record& r : *batch.mutable_records()) {
      if (r.id().empty() || r.id().size() > kMaxIdSize) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "every record needs an id of 1 to 64 bytes");
      }
      if (r.node_id().empty()) {
        r.set_node_id(batch.node_id());
      }
    }
    absl::StatusOr<size_t> stored = store_.write({batch.records().begin(), batch.records().end()});
    if (!stored.ok()) {
      FWD_LOG(kWarn, "records") << "cannot store a batch of " << batch.records_size()
                                << " records: " << stored.status().message();
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "records not stored: " + std::string(stored.status().message()));
    }
    if (notifications_ != nullptr && *stored > 0) {
      notifications_->onRecords(batch.records());
    }
    fwd::v1::RecordAck ack;
    ack.set_seq(batch.seq());
    ack.set_stored(static_cast<std::uint32_t>(*stored));
    if (!stream->Write(ack)) {
      break;
    }
  }
  return grpc::Status::OK;
}

}  // namespace fwd::controlplane::service
