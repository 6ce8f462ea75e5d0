"""Control: triggers, the durable event queue, the controller, the service loop."""
