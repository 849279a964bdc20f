"""Transfer matrices from outside a study: the long-table format (`table`), TaskWeb's published transfers
(`taskweb`), a selector's scores from a file (`predictions`), and the restricted unpickler they share
(`safe_pickle`)."""
