"""Console tools for operators: dead letters (list, show, replay) and the system's status.

`deploy.ops.commands` wires them into the `exemplars` command; the modules keep the
pure parts (parsing, selection, formatting) apart from the Kafka, HTTP and MongoDB reads
so the pure parts are unit-tested and the rest is tested over the real servers.
"""

# Where replays of dead letters are recorded (deploy.ops.replay); here so the command line
# can name it without importing the Kafka client.
REPLAY_MARKER_TOPIC = "exemplars.deadletters.replayed"
