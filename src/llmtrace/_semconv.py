"""Every attribute, metric and value name llmtrace emits, in one place.

GenAI names follow the semantic-conventions-genai digest (schema below); the core
`opentelemetry-semantic-conventions` constants lag behind it, so we keep our own.
"""

from __future__ import annotations

from typing import Final

SCHEMA_URL: Final = "https://opentelemetry.io/schemas/gen-ai-dev/1.42.0-dev"

# --- common -------------------------------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# --- request ------------------------------------------------------------------------------------
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_REASONING_LEVEL: Final = "gen_ai.request.reasoning.level"
GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID: Final = "gen_ai.request.previous_response.id"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"

# --- response -----------------------------------------------------------------------------------
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"

# --- usage --------------------------------------------------------------------------------------
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"

# --- content (opt-in) ---------------------------------------------------------------------------
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"

# --- prompt templates ---------------------------------------------------------------------------
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
GEN_AI_PROMPT_VERSION: Final = "gen_ai.prompt.version"
GEN_AI_PROMPT_VARIABLE_PREFIX: Final = "gen_ai.prompt.variable."

# --- agents, tools, retrieval, workflows, evaluation ----------------------------------------------
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
GEN_AI_RETRIEVAL_TOP_K: Final = "gen_ai.retrieval.top_k"
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"
GEN_AI_RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
GEN_AI_EVALUATION_RESULT: Final = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"

MCP_METHOD_NAME: Final = "mcp.method.name"
MCP_PROTOCOL_VERSION: Final = "mcp.protocol.version"
RPC_RESPONSE_STATUS_CODE: Final = "rpc.response.status_code"

# --- context attributes -------------------------------------------------------------------------
USER_ID: Final = "user.id"
SESSION_ID: Final = "session.id"
LLMTRACE_TENANT_ID: Final = "llmtrace.tenant.id"
LLMTRACE_FEATURE: Final = "llmtrace.feature"
LLMTRACE_CONTEXT_PREFIX: Final = "llmtrace.context."

# --- OpenAI refinements -------------------------------------------------------------------------
OPENAI_API_TYPE: Final = "openai.api.type"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"

# --- AWS Bedrock refinements --------------------------------------------------------------------
AWS_BEDROCK_GUARDRAIL_ID: Final = "aws.bedrock.guardrail.id"
AWS_REQUEST_ID: Final = "aws.request_id"  # core semconv (AWS SDK): the x-amzn-RequestId of the response

# --- cost: the open semconv proposal (semantic-conventions-genai PR #443, not merged; names here only) -
GEN_AI_USAGE_COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
GEN_AI_USAGE_COST_SOURCE: Final = "gen_ai.usage.cost.source"

# --- llmtrace's own (no official equivalent exists) ---------------------------------------------
LLMTRACE_COST_INPUT_USD: Final = "llmtrace.cost.input_usd"
LLMTRACE_COST_OUTPUT_USD: Final = "llmtrace.cost.output_usd"
LLMTRACE_USAGE_ESTIMATED: Final = "llmtrace.usage.estimated"
LLMTRACE_USAGE_TOKENIZER: Final = "llmtrace.usage.tokenizer"
LLMTRACE_STREAM_ABANDONED: Final = "llmtrace.stream.abandoned"
LLMTRACE_STREAM_CHUNKS: Final = "llmtrace.stream.chunks"
LLMTRACE_CONTENT_TRUNCATED: Final = "llmtrace.content.truncated"
LLMTRACE_AGENT_VERSION: Final = "llmtrace.agent.version"
LLMTRACE_STEP_NAME: Final = "llmtrace.step.name"
LLMTRACE_RETRIEVAL_DOCUMENTS_COUNT: Final = "llmtrace.retrieval.documents.count"
LLMTRACE_RETRIEVAL_SCORE_MIN: Final = "llmtrace.retrieval.score.min"
LLMTRACE_RETRIEVAL_SCORE_MAX: Final = "llmtrace.retrieval.score.max"
LLMTRACE_RETRIEVAL_SCORE_SPREAD: Final = "llmtrace.retrieval.score.spread"
LLMTRACE_RETRIEVAL_DISTANCE_MIN: Final = "llmtrace.retrieval.distance.min"
LLMTRACE_RETRIEVAL_DISTANCE_MAX: Final = "llmtrace.retrieval.distance.max"
LLMTRACE_RETRIEVAL_DISTANCE_SPREAD: Final = "llmtrace.retrieval.distance.spread"
LLMTRACE_LITELLM_MODEL: Final = "llmtrace.litellm.model"  # the model string given to LiteLLM, if routed
LLMTRACE_LITELLM_RESPONSE_COST: Final = "llmtrace.litellm.response_cost"  # LiteLLM's own estimate, USD
LLMTRACE_LITELLM_CACHE_HIT: Final = "llmtrace.litellm.cache_hit"  # answered from LiteLLM's cache

# --- metrics ------------------------------------------------------------------------------------
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_COST: Final = "gen_ai.client.operation.cost"  # proposal PR #443
METRIC_AGENT_DURATION: Final = "gen_ai.invoke_agent.duration"
METRIC_TOOL_DURATION: Final = "gen_ai.execute_tool.duration"
METRIC_WORKFLOW_DURATION: Final = "gen_ai.workflow.duration"
METRIC_EXPORT_DROPPED_SPANS: Final = "llmtrace.export.dropped_spans"  # spans the exporter never sent
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"

TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
AGENT_BUCKETS: Final = (
    0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6,
)  # fmt: skip
WORKFLOW_BUCKETS: Final = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)  # fmt: skip
COST_BUCKETS: Final = (
    0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
)  # fmt: skip

# --- values -------------------------------------------------------------------------------------
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_EMBEDDINGS: Final = "embeddings"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_RETRIEVAL: Final = "retrieval"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"
OP_STEP: Final = "step"
OTHER: Final = "_OTHER"
