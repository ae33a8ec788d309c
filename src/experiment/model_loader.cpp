#include "experiment/model_loader.h"

#include <filesystem>

#include "model/checkpoint.h"
#include "model/weights.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {

ModelConfig resolve_model_config(const ModelChoice& choice) {
  ModelConfig config;
  std::string problem;
  try {
    if (!choice.model_dir.empty()) {
      SB_REQUIRE(std::filesystem::is_directory(choice.model_dir), "--model {}: no such directory",
                 choice.model_dir);
      config = load_config_json((std::filesystem::path(choice.model_dir) / "config.json").string());
      config.name = checkpoint_model_name(choice.model_dir);  // as Checkpoint::open names it
    } else {
      config = preset_config(choice.preset);
    }
    validate_config(config);
  } catch (const Error& error) {
    problem = error.what();
  }
  Control::agree(problem.empty(), problem);
  return config;
}

std::unique_ptr<Transformer> load_model(const ModelChoice& choice, const ModelConfig& config, Backend& backend) {
  std::unique_ptr<Transformer> model;
  std::string problem;
  try {
    if (!choice.model_dir.empty()) {
      std::shared_ptr<Checkpoint> checkpoint = Checkpoint::open(choice.model_dir);
      model = std::make_unique<Transformer>(checkpoint->config(), backend, checkpoint_weight_specs(checkpoint));
    } else {
      model = std::make_unique<Transformer>(config, backend, synthetic_weight_specs(config, choice.weight_seed));
    }
  } catch (const Error& error) {
    problem = error.what();
  }
  Control::agree(problem.empty(), problem);
  return model;
}

std::unique_ptr<Backend> create_backend(const std::string& name) {
  std::unique_ptr<Backend> backend;
  std::string problem;
  try {
    backend = make_backend(name, Control::local_rank());
  } catch (const Error& error) {
    problem = error.what();
  }
  Control::agree(problem.empty(), problem);
  return backend;
}

}  // namespace sb
