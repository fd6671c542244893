// The judge's prompts, in our own words after UltraFeedback's rubric ideas
// (one aspect at a time, a scale with anchors, a rationale before the
// number is trusted). The bracketed section markers ([Response to rate],
// [Response 1], [Response 2]) are what llm-test-server recognises.

enum JudgePrompts {
    /// What each aspect asks the judge to look at.
    static let aspects: [String: String] = [
        "overall": "overall quality: whether the response is helpful, correct, honest and does what was asked",
        "helpfulness": "helpfulness: whether the response is relevant, informative and useful to the person who asked, without padding or repetition",
        "honesty": "honesty: whether the response is confident where it is right, says so where it is unsure, and does not pretend to know what it cannot",
        "instruction_following": "instruction following: whether the response does what the instruction asks, in the form and within the limits it sets, and nothing else",
        "truthfulness": "truthfulness: whether the response is free of invented facts, contradictions with the instruction, and claims that contradict themselves",
    ]

    static func focus(_ aspect: String) -> String { aspects[aspect] ?? aspects["overall"] ?? aspect }

    static func rating(instruction: String, answer: String, aspect: String) -> String {
        """
        You are a careful evaluator. Rate the response below on \(focus(aspect)).

        Use a scale from 1 to 10: 1-2 the response fails entirely, 3-4 it has serious problems, 5-6 it is \
        acceptable with clear flaws, 7-8 it is good with minor flaws, 9-10 it is excellent and could hardly be \
        improved. Judge the response only against the instruction; its length alone is not a merit.

        Answer with only a JSON object: {"rationale": "<one or two sentences>", "rating": <an integer from 1 to 10>}

        [Instruction]
        \(instruction)
        [End of instruction]

        [Response to rate]
        \(answer)
        [End of response]
        """
    }

    static func pair(instruction: String, first: String, second: String, aspect: String) -> String {
        """
        You are a careful evaluator. Compare the two responses below to the same instruction on \(focus(aspect)).

        Decide which response is better, or answer tie when neither is clearly better. The order in which \
        the responses are shown says nothing about their quality, and length alone is not a merit.

        Answer with only a JSON object: {"rationale": "<one or two sentences>", "verdict": "1" | "2" | "tie"}

        [Instruction]
        \(instruction)
        [End of instruction]

        [Response 1]
        \(first)
        [End of response 1]

        [Response 2]
        \(second)
        [End of response 2]
        """
    }

    static let ratingSchema = #"{"additionalProperties":false,"properties":{"rating":{"maximum":10,"minimum":1,"type":"integer"},"rationale":{"type":"string"}},"required":["rationale","rating"],"type":"object"}"#
    static let verdictSchema = #"{"additionalProperties":false,"properties":{"rationale":{"type":"string"},"verdict":{"enum":["1","2","tie"],"type":"string"}},"required":["rationale","verdict"],"type":"object"}"#
}
