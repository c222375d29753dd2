"""The controller LLM behind one `Controller` interface: llama.cpp in process (`controller`, with
the grammar-first greedy sampler in `greedy_grammar`) or any OpenAI-compatible server
(`openai_controller`, reachable through the network guard only at its configured host).
llama_cpp is imported when a model is first loaded, never at start-up.
"""
