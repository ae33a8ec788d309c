// A run's identity: equal only when the settings and every input digest that
// applies to the run are equal; components shown as the record's attributes.
#include <gtest/gtest.h>

#include <memory>

#include "experiment/run_identity.h"

namespace sb {
namespace {

IdentityInputs inputs() {
  IdentityInputs in;
  in.model_digest = std::string(64, 'a');
  in.model_weights = "synthetic, preset tiny, weight seed 0";
  in.weight_seed = 0;
  in.tasks = true;
  in.tokenizer_digest = std::string(64, 'b');
  in.words_path = "/usr/share/dict/words";
  in.words_digest = std::string(64, 'c');
  in.squad_digest = std::string(64, 'd');
  in.task_samples = 4;
  in.job_world_size = 2;
  return in;
}

RunSpec task_spec(const std::string& task) {
  RunSpec spec;
  spec.method.method = Method::Ring;
  spec.task = task;
  spec.sample = 0;
  return spec;
}

TEST(RunIdentity, EachInputChangesTheIdentity) {
  const RunSpec spec = task_spec("niah_single_2");
  const std::string base = identity_of("key", spec, inputs());
  EXPECT_EQ(base.size(), 64u);
  EXPECT_EQ(base, identity_of("key", spec, inputs()));
  EXPECT_NE(base, identity_of("key2", spec, inputs()));
  auto changed = [&](auto edit) {
    IdentityInputs in = inputs();
    edit(in);
    return identity_of("key", spec, in);
  };
  EXPECT_NE(base, changed([](IdentityInputs& in) { in.model_digest[0] = 'z'; }));
  EXPECT_NE(base, changed([](IdentityInputs& in) { in.tokenizer_digest[5] = 'z'; }));
  EXPECT_NE(base, changed([](IdentityInputs& in) { in.words_digest = "unreadable"; }));
  EXPECT_NE(base, changed([](IdentityInputs& in) { in.task_samples = 8; }));
  EXPECT_NE(base, changed([](IdentityInputs& in) { in.chat_template = true; }));
  EXPECT_NE(base, changed([](IdentityInputs& in) { in.backend_inputs = {{"platform_digest", "x"}}; }));
  EXPECT_NE(base, changed([](IdentityInputs& in) {
    in.placement.hosts = {"h", "h"};
    in.placement.libraries = {"cuda_runtime=12.4;cudnn=9.1.0;nccl=2.21.5", "cuda_runtime=12.4;cudnn=9.1.0;nccl=2.21.5"};
  }));
  // What the run does not read leaves it alone: vt uses no word list, niah no SQuAD file.
  EXPECT_EQ(base, changed([](IdentityInputs& in) { in.squad_digest = "other"; }));
  const RunSpec vt = task_spec("vt");
  IdentityInputs other_words = inputs();
  other_words.words_digest = "other";
  EXPECT_EQ(identity_of("key", vt, inputs()), identity_of("key", vt, other_words));
}

TEST(RunIdentity, TimingRunsCarryNoTaskInputs) {
  RunSpec spec;
  spec.method.method = Method::Global;
  const auto components = identity_components(spec, inputs());
  ASSERT_EQ(components.size(), 1u);
  EXPECT_EQ(components[0].first, "model_digest");
}

// The cuda backend's library versions (CUDA runtime, cuDNN, NCCL per rank) are a
// component of the ranks a run used: other versions on a rank of a ring run are
// another run; global (rank 0 alone) sees rank 0's only (issue 20, item 18).
TEST(RunIdentity, LibraryVersionsOfTheRanksUsedAreAComponent) {
  IdentityInputs in = inputs();
  in.placement.libraries = {"cuda_runtime=12.4;cudnn=9.1.0;nccl=2.21.5", "cuda_runtime=12.4;cudnn=9.1.0;nccl=2.21.5"};
  RunSpec ring;
  ring.method.method = Method::Ring;
  RunSpec global;
  global.method.method = Method::Global;
  const auto components = identity_components(ring, in);
  ASSERT_EQ(components.size(), 2u);
  EXPECT_EQ(components[1], (std::pair<std::string, std::string>{"library_versions",
                                                                 "cuda_runtime=12.4;cudnn=9.1.0;nccl=2.21.5"}));
  const std::string ring_before = identity_of("key", ring, in), global_before = identity_of("key", global, in);
  in.placement.libraries[1] = "cuda_runtime=12.6;cudnn=9.5.1;nccl=2.23.4";  // rank 1 alone differs
  EXPECT_NE(identity_of("key", ring, in), ring_before);
  EXPECT_EQ(identity_of("key", global, in), global_before);
  EXPECT_EQ(library_versions(in.placement, 2),
            "cuda_runtime=12.4;cudnn=9.1.0;nccl=2.21.5 + cuda_runtime=12.6;cudnn=9.5.1;nccl=2.23.4");
  RunRecord record;
  add_identity(record, "key", ring, in);
  EXPECT_EQ(record.text.count("library_versions"), 0u);  // add_placement records it
}

TEST(RunIdentity, DuoHeadsAreAComponent) {
  RunSpec spec;
  spec.method.method = Method::Duo;
  auto pattern = std::make_shared<DuoPattern>();
  pattern->num_layers = 1;
  pattern->num_kv_heads = 2;
  pattern->retrieval = {1, 0};
  spec.method.duo = pattern;
  const std::string first = identity_of("key", spec, inputs());
  auto flipped = std::make_shared<DuoPattern>(*pattern);
  flipped->retrieval = {0, 1};  // the same sparsity, other heads
  spec.method.duo = flipped;
  EXPECT_NE(first, identity_of("key", spec, inputs()));
}

TEST(RunIdentity, RecordGetsTheIdentityAndItsComponents) {
  RunRecord record;
  const RunSpec spec = task_spec("niah_single_2");
  add_identity(record, "key", spec, inputs());
  EXPECT_EQ(record.text.at("identity"), identity_of("key", spec, inputs()));
  EXPECT_EQ(record.text.at("model_digest"), std::string(64, 'a'));
  EXPECT_EQ(record.text.at("words_digest"), std::string(64, 'c'));
  EXPECT_EQ(record.text.at("words"), "/usr/share/dict/words");
  EXPECT_EQ(record.integers.at("task_samples"), 4);
  EXPECT_EQ(record.integers.at("weight_seed"), 0);
  EXPECT_EQ(record.integers.at("chat_template"), 0);
}

}  // namespace
}  // namespace sb
