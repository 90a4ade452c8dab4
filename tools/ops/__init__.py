"""Operations an operator, a flow or the workflow may perform: each lives once here and is called the same
way from the CLI, the Python API and the flows."""
