// SPDX-License-Identifier: Apache-2.0
// CUDA instantiation of query_impl.h.
#include "query_impl.h"

namespace ef {
namespace cuda {
std::shared_ptr<void> mq_upload(const meshquery::MeshView& h, meshquery::MeshView* d) { return mq::upload_impl(h, d); }
}  // namespace cuda
}  // namespace ef
