print("llm-test-server: not yet")
