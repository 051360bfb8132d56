"""The assistant: local and cloud language models, prompts, knowledge retrieval and answers."""
